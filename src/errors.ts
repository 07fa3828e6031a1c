// Every error Mycel raises on purpose. Each class has a stable `code` callers can match on (and that
// survives a trip through JSON or a log line) and carries what happened and to what: the block id,
// the peer id, the part of a link that is wrong. Nothing here is thrown for a programming mistake;
// those stay plain TypeErrors/RangeErrors.
//
// Conventions: src/, signaling/ and web/ throw only these classes (MycelError is abstract: a new
// kind of failure gets its class here, with a constructor its call sites fit). A caller recognises
// an error by its class (`instanceof QuotaError`), never by duck-typing a `code`. An operation
// stopped by its AbortSignal rejects with AbortError (the signal's reason as its `cause`), never
// with the platform's DOMException or the bare reason: use throwIfAborted and abortedBy.

export type MycelErrorCode =
  | 'BAD_LINK'
  | 'WRONG_KEY'
  | 'BAD_MANIFEST'
  | 'UNSUPPORTED_FORMAT'
  | 'BLOCK_INTEGRITY'
  | 'BLOCK_MISSING'
  | 'ID_MISMATCH'
  | 'QUOTA_EXCEEDED'
  | 'BAD_INPUT'
  | 'BAD_PATH'
  | 'PROTOCOL'
  | 'TIMEOUT'
  | 'NO_HOLDER'
  | 'UNREACHABLE'
  | 'STORE_REFUSED'
  | 'UNPROVEN_COPY'
  | 'ABORTED'
  | 'CLOSED'
  | 'UNAVAILABLE'
  | 'LOCAL_STORAGE'
  | 'FILE_BUSY'
  | 'OFFLINE'
  | 'USAGE';

export abstract class MycelError extends Error {
  readonly code: MycelErrorCode;
  protected constructor(code: MycelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export type LinkProblem = 'not-a-link' | 'no-fragment' | 'truncated' | 'bad-encoding' | 'id-length' | 'key-length';

/** A share link could not be parsed. `problem` says which part is wrong. */
export class LinkError extends MycelError {
  readonly problem: LinkProblem;
  constructor(problem: LinkProblem, message: string) {
    super('BAD_LINK', message);
    this.problem = problem;
  }
}

/** The key in a link does not open the manifest it names. */
export class WrongKeyError extends MycelError {
  readonly root: string;
  constructor(root: string) {
    super('WRONG_KEY', `the link's key does not open manifest ${short(root)}: wrong or damaged key`);
    this.root = root;
  }
}

/** A manifest decrypted but its contents break the format's rules. */
export class ManifestError extends MycelError {
  readonly root: string;
  constructor(root: string, detail: string) {
    super('BAD_MANIFEST', `manifest ${short(root)} is invalid: ${detail}`);
    this.root = root;
  }
}

/**
 * A link names a file in a content format this Mycel does not read. Blocks of another format are
 * never guessed at: an older file is recognised by opening it under that format's rules.
 */
export class FormatVersionError extends MycelError {
  readonly root: string;
  readonly version: number;
  constructor(root: string, version: number, supported: number) {
    super(
      'UNSUPPORTED_FORMAT',
      version < supported
        ? `this link was made by an older version of Mycel (format ${version}); ask the sender to share it again`
        : `this link was made by a newer version of Mycel (format ${version}); this one reads format ${supported}`,
    );
    this.root = root;
    this.version = version;
  }
}

export type IntegrityProblem = 'hash' | 'auth' | 'length' | 'padding';

/**
 * A block's bytes are not what the manifest commits to: its hash is not its id (`hash`), its tag
 * does not verify at its position (`auth`: tampered, reordered, or a truncated file), or its
 * decrypted length or padding is wrong.
 */
export class BlockIntegrityError extends MycelError {
  readonly blockId: string;
  readonly index: number | undefined;
  readonly problem: IntegrityProblem;
  constructor(blockId: string, problem: IntegrityProblem, index?: number, from?: string) {
    const where = index === undefined ? '' : ` (chunk ${index})`;
    const who = from ? ` from ${from}` : '';
    const what = {
      hash: 'its bytes do not hash to its id',
      auth: 'it does not decrypt and verify at its position',
      length: 'its decrypted length is wrong for its position',
      padding: 'its padding is not zero',
    }[problem];
    super('BLOCK_INTEGRITY', `block ${short(blockId)}${where}${who} failed verification: ${what}`);
    this.blockId = blockId;
    this.index = index;
    this.problem = problem;
  }
}

/** A block the file needs is in no store and no peer answered for it. */
export class BlockMissingError extends MycelError {
  readonly blockId: string;
  constructor(blockId: string, detail = 'not available') {
    super('BLOCK_MISSING', `block ${short(blockId)} is missing: ${detail}`);
    this.blockId = blockId;
  }
}

/** A store was asked to keep bytes under an id they do not hash to. */
export class IdMismatchError extends MycelError {
  readonly blockId: string;
  constructor(blockId: string) {
    super('ID_MISMATCH', `refused block ${short(blockId)}: its bytes do not hash to that id`);
    this.blockId = blockId;
  }
}

/** A put would need more space than the quota allows once every unpinned block is evicted. */
export class QuotaError extends MycelError {
  readonly needed: number;
  /** The quota in bytes, when the store knows it (a browser's own quota is not told). */
  readonly quota: number | undefined;
  constructor(needed: number, quota: number | undefined, detail: string) {
    super('QUOTA_EXCEEDED', `storage quota exceeded: ${detail}`);
    this.needed = needed;
    this.quota = quota;
  }
}

/** Input from a caller or a file is out of bounds (a name too long, a size too large). */
export class BadInputError extends MycelError {
  constructor(message: string) {
    super('BAD_INPUT', message);
  }
}

/** What is wrong with a path in a collection, or with where it would be written. */
export type PathProblem =
  | 'empty'
  | 'absolute'
  | 'drive'
  | 'unc'
  | 'backslash'
  | 'empty-segment'
  | 'dot-segment'
  | 'control'
  | 'invisible'
  | 'forbidden-character'
  | 'device-name'
  | 'edge-space-or-dot'
  | 'not-nfc'
  | 'not-utf8'
  | 'too-long'
  | 'segment-too-long'
  | 'too-deep'
  | 'duplicate'
  | 'collision'
  | 'file-and-folder'
  | 'outside'
  | 'symlink'
  | 'not-a-folder'
  | 'exists';

/**
 * A path in a collection breaks the path rules (content/paths.ts), or writing it would leave the
 * target folder or replace something there. `entry` is its position in the collection when known;
 * `other` is the path it collides with. Paths are hostile text: the message shows them escaped.
 */
export class PathError extends MycelError {
  readonly problem: PathProblem;
  readonly path: string;
  readonly entry: number | undefined;
  readonly other: string | undefined;
  constructor(problem: PathProblem, path: string, detail: string, where: { entry?: number; other?: string } = {}) {
    const which = where.entry === undefined ? 'path' : `entry ${where.entry}`;
    const other = where.other === undefined ? '' : ` (and ${shownPath(where.other)})`;
    super('BAD_PATH', `${which} ${shownPath(path)}${other} refused: ${detail}`);
    this.problem = problem;
    this.path = path;
    this.entry = where.entry;
    this.other = where.other;
  }
}

/** A path for a message: quoted, anything but printable non-format characters escaped, cut at 200. */
function shownPath(path: string): string {
  const escaped = path.replace(/[^\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]|[\\"]/gu, (c) =>
    c === '\\' || c === '"' ? `\\${c}` : `\\u{${c.codePointAt(0)!.toString(16)}}`,
  );
  const chars = [...escaped];
  return `"${chars.length > 200 ? `${chars.slice(0, 200).join('')}…` : escaped}"`;
}

/**
 * The reasons an error frame names on the wire, by their code: append only. Code 3 was `shutdown`,
 * which no version ever sent; it is read as `protocol`.
 */
export const WIRE_ERROR_REASONS = ['protocol', 'flood', 'bad-block', undefined, 'bad-auth'] as const;
export type WireErrorReason = NonNullable<(typeof WIRE_ERROR_REASONS)[number]>;

export function isWireErrorReason(reason: string): reason is WireErrorReason {
  return (WIRE_ERROR_REASONS as readonly (string | undefined)[]).includes(reason);
}

/**
 * Why a peer is said to have broken the protocol: the wire's error reasons (what the peer is told,
 * or told us), and the finer ones we keep to ourselves (the peer hears `protocol` for those).
 */
export type ProtocolReason =
  | WireErrorReason
  /** Frame and fragment decoding (wire.ts). */
  | 'short'
  | 'oversized'
  | 'version'
  | 'bad-body'
  | 'unknown-type'
  | 'bad-fragment'
  /** Channel binding (channel-auth.ts, peer-link.ts). */
  | 'no-fingerprint'
  | 'unauthenticated'
  /** Answers that fit no request of ours (session.ts). */
  | 'bad-answer'
  | 'unsolicited'
  /** A peer we banned (swarm.ts). */
  | 'banned'
  /** A signaling message that fits no schema (schema.ts). */
  | 'bad-message';

/**
 * A peer broke the wire or signaling protocol: a frame too short or too long, an unknown type, a
 * block that is not what was asked for. The peer that sent it is dropped; nobody else is affected.
 */
export class ProtocolError extends MycelError {
  readonly reason: ProtocolReason;
  peerId: string | undefined;
  constructor(reason: ProtocolReason, message: string, peerId?: string) {
    super('PROTOCOL', peerId ? `peer ${short(peerId)}: ${message}` : message);
    this.reason = reason;
    this.peerId = peerId;
  }
}

/** No seed answered, so a file has nowhere to be kept. */
export class NoSeedError extends MycelError {
  constructor(message: string) {
    super('NO_HOLDER', message);
  }
}

/** The Mycel server (signaling) could not be reached in time. */
export class ServerUnreachableError extends MycelError {
  readonly origin: string;
  /** `reason`: what the connection last failed with, if known (a refused port, a certificate). */
  constructor(origin: string, options?: { cause?: unknown; reason?: string }) {
    super(
      'TIMEOUT',
      `could not reach the Mycel server at ${origin}${options?.reason ? `: ${options.reason}` : ''}`,
      options,
    );
    this.origin = origin;
  }
}

/**
 * An error met in another tab of the app (the one that runs the peer) and passed on to this one: it
 * keeps that error's code, so the UI explains it as if it had happened here.
 */
export class RemoteTabError extends MycelError {
  constructor(code: MycelErrorCode, message: string) {
    super(code, message);
  }
}

/** This device has no network at all (the platform says so): nothing beyond it can be reached. */
export class OfflineError extends MycelError {
  constructor(message = 'this device is offline') {
    super('OFFLINE', message);
  }
}

/** Something this operation needs is not available here (a service worker, a feature of the platform). */
export class UnavailableError extends MycelError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

/**
 * This node's own storage failed under it (a full or failing disk beneath its database): a local
 * fault like a file system error, never the peer's doing, so a peer hears only a generic refusal.
 */
export class LocalStorageError extends MycelError {
  constructor(message: string, cause?: unknown) {
    super('LOCAL_STORAGE', message, { cause });
  }
}

/**
 * Another process is writing the file this one would write (a second `mycel get` to the same
 * target): `owner` names it by pid, and by host when it runs elsewhere (a shared folder), where
 * whether it is still alive cannot be told from here.
 */
export class FileBusyError extends MycelError {
  readonly file: string;
  readonly pid: number | undefined;
  readonly host: string | undefined;
  constructor(file: string, pid: number | undefined, host: string | undefined, detail: string) {
    const who = pid === undefined ? '' : ` (pid ${pid}${host ? ` on ${host}` : ''})`;
    super('FILE_BUSY', `another get${who} is writing ${file}: ${detail}`);
    this.file = file;
    this.pid = pid;
    this.host = host;
  }
}

/** No peer holding the file (or a block of it) was found in time. */
export class NoHolderError extends MycelError {
  readonly topic: string;
  constructor(topic: string, waitedMs: number) {
    super('NO_HOLDER', `no peer holding ${short(topic)} was found within ${Math.round(waitedMs / 1000)} s`);
    this.topic = topic;
  }
}

/**
 * Peers holding the file were found, but no connection to any of them could be made. `relay`:
 * whether a TURN relay was configured, which decides what the likely cause is and who can fix it.
 */
export class PeerUnreachableError extends MycelError {
  readonly topic: string;
  readonly holders: number;
  readonly relay: boolean;
  constructor(topic: string, holders: number, relay: boolean) {
    const them = holders === 1 ? 'the peer holding' : `the ${holders} peers holding`;
    super(
      'UNREACHABLE',
      relay
        ? `could not connect to ${them} ${short(topic)}, not even through the relay (TURN) server: ` +
            'the relay may be down, unreachable or misconfigured'
        : `could not connect to ${them} ${short(topic)}: could not reach ${holders === 1 ? 'it' : 'them'} directly, ` +
            'and no relay (TURN) is configured; behind strict NATs only a relay connects (the server operator adds one with --turn)',
    );
    this.topic = topic;
    this.holders = holders;
    this.relay = relay;
  }
}

/**
 * Why a peer would not keep what we pushed. `incomplete`: a commit named a file the peer does not
 * hold every block of. `unavailable`: the peer cannot store now (its disk failed or is nearly full);
 * it says no more than that, and trying again later or elsewhere is right.
 */
export type RefusalReason =
  'quota' | 'not-allowed' | 'bad-block' | 'busy' | 'unknown-upload' | 'incomplete' | 'unavailable';

/** What a peer says when its own storage failed: generic on purpose (no paths leave the process). */
export const UNAVAILABLE_MESSAGE = 'the peer cannot store this now';

/** A peer (usually a seed) would not keep what we pushed. */
export class StoreRefusedError extends MycelError {
  readonly reason: RefusalReason;
  readonly peerId: string;
  /** The refusal in the refusing peer's words, without who refused: what goes on the wire. */
  readonly detail: string;
  constructor(peerId: string, reason: RefusalReason, detail: string) {
    super('STORE_REFUSED', `peer ${short(peerId)} refused to store: ${detail || reason}`);
    this.reason = reason;
    this.peerId = peerId;
    this.detail = detail || reason;
  }
}

/**
 * A peer (a seed) acknowledged a whole file, but asked afterwards for some of its blocks it did not
 * give them back (it answered not-found, wrong bytes, or nothing in time): its copy is not counted.
 */
export class UnprovenCopyError extends MycelError {
  readonly peerId: string;
  readonly blockId: string;
  constructor(peerId: string, blockId: string, detail: string, options?: { cause?: unknown }) {
    super(
      'UNPROVEN_COPY',
      `peer ${short(peerId)} said it stored the file, but ${detail} block ${short(blockId)} when asked: not counted as a copy`,
      options,
    );
    this.peerId = peerId;
    this.blockId = blockId;
  }
}

/** A link, session or store was closed while something was waiting on it. */
export class ClosedError extends MycelError {
  constructor(what: string) {
    super('CLOSED', `${what} closed`);
  }
}

export class TimeoutError extends MycelError {
  constructor(what: string, ms: number) {
    super('TIMEOUT', `${what} timed out after ${ms} ms`);
  }
}

export class AbortError extends MycelError {
  constructor(message = 'aborted', options?: { cause?: unknown }) {
    super('ABORTED', message, options);
  }
}

/** The AbortError for an operation `signal` stopped (its reason is the cause). */
export function abortedBy(signal: AbortSignal, message = 'aborted'): AbortError {
  return new AbortError(message, { cause: signal.reason });
}

/** Throws an AbortError (carrying the signal's reason) if `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedBy(signal);
}

/** The first 12 hex characters of an id: enough to name it in a message. */
export function short(id: string): string {
  return id.length > 12 ? id.slice(0, 12) : id;
}
