// The path rules for the entries of a collection: what a path may be, how a sender's file names
// become one, and how a set of paths is checked for entries that would land on each other. A path
// in a collection is chosen by whoever made it, so a receiver treats it as hostile input.
//
// A path is relative, `/`-separated, NFC, and every segment is a name any system can write as it
// reads: no empty, `.` or `..` segment; no leading `/`, drive letter or UNC prefix; no backslash;
// none of the characters names.ts removes or replaces in a saved file name (controls, invisible
// and bidirectional marks, the characters Windows refuses); no Windows device name (`con`,
// `nul.txt`, `com1`); no leading space or trailing space or dot (Windows drops them, so `a.` would
// be written as `a`); at most MAX_SEGMENT_BYTES per segment, MAX_PATH_BYTES in all and
// MAX_PATH_DEPTH segments. Unlike safeFileName, a leading dot stays (`.gitignore` is part of a
// folder); nothing written from a collection is ever made executable (src/node/collection-write.ts).
//
// The sender normalises (normaliseEntryPath): characters are removed or replaced as safeFileName
// does, NFC is applied, and what cannot be fixed without guessing (`..`, absolute paths, a name
// with nothing left) is refused. The receiver never normalises (checkEntryPath): a path that is
// not exactly what an honest sender would have written is refused with the rule it breaks, so
// what a listing shows is what gets written.
//
// NFC, because macOS hands out decomposed names and Linux keeps whatever bytes it was given: one
// form makes equal names equal, and it is what most systems display. Collisions are judged on a
// folded form (foldSegment): case-insensitively, ignoring the joiners HFS+ ignores, since macOS and
// Windows would write two such entries to one file, the later over the earlier.

import { PathError, type PathProblem } from '../errors.js';
import { CONTROLS, INVISIBLE, WINDOWS_DEVICE, WINDOWS_FORBIDDEN } from './names.js';

/** Longest path, in UTF-8 bytes (macOS's PATH_MAX is 1024; the target folder comes on top). */
export const MAX_PATH_BYTES = 1024;
/** Longest segment, in UTF-8 bytes: what ext4, APFS and NTFS take as one name. */
export const MAX_SEGMENT_BYTES = 255;
/** Most segments in one path. */
export const MAX_PATH_DEPTH = 32;

const utf8 = new TextEncoder();

// names.ts's rules are global (for replace); these copies are for test(), which a global regex
// would make stateful.
const HAS_CONTROL = new RegExp(CONTROLS.source);
const HAS_INVISIBLE = new RegExp(INVISIBLE.source);
const HAS_FORBIDDEN = new RegExp(WINDOWS_FORBIDDEN.source);
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const DRIVE = /^[A-Za-z]:/;
const LEADING_SPACE = /^\s/;
const TRAILING_SPACE_OR_DOT = /[\s.]$/;
// HFS+ ignores these when it compares names (git's CVE-2014-9390: ".g\u200cit" is ".git" there).
const IGNORED_BY_HFS = /[\u200c\u200d]/g;

function refuse(problem: PathProblem, path: string, detail: string, entry?: number): never {
  throw new PathError(problem, path, detail, { entry });
}

function isDeviceName(segment: string): boolean {
  // "con .txt" opens the device too: Windows drops spaces before the dot.
  return WINDOWS_DEVICE.test(segment.replace(/\s+(?=\.|$)/, ''));
}

/** The first rule `segment` (of `path`) breaks, as a problem and a reason; undefined if none. */
function segmentProblem(segment: string): [PathProblem, string] | undefined {
  if (segment === '') return ['empty-segment', 'it has an empty segment ("//", or a "/" at the end)'];
  if (segment === '.' || segment === '..') return ['dot-segment', `it has a "${segment}" segment`];
  if (segment.includes('\\')) return ['backslash', 'it has a backslash (the only separator is "/")'];
  if (HAS_CONTROL.test(segment)) return ['control', 'it has a control character'];
  if (HAS_INVISIBLE.test(segment)) return ['invisible', 'it has an invisible or text-direction character'];
  if (HAS_FORBIDDEN.test(segment))
    return ['forbidden-character', 'it has a character Windows refuses in names (<>:"|?*)'];
  if (segment.normalize('NFC') !== segment) return ['not-nfc', 'it is not in Unicode normal form C'];
  if (LEADING_SPACE.test(segment) || TRAILING_SPACE_OR_DOT.test(segment)) {
    return ['edge-space-or-dot', 'a segment starts with a space, or ends with a space or dot'];
  }
  if (isDeviceName(segment)) return ['device-name', 'a segment is a Windows device name'];
  if (utf8.encode(segment).length > MAX_SEGMENT_BYTES) {
    return ['segment-too-long', `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`];
  }
  return undefined;
}

/** Rules on the whole text, before it is split: what makes a path absolute or ambiguous. */
function wholeProblem(path: string): [PathProblem, string] | undefined {
  if (path === '') return ['empty', 'it is empty'];
  if (LONE_SURROGATE.test(path)) return ['not-utf8', 'it is not valid Unicode text'];
  if (path.startsWith('\\\\') || path.startsWith('//')) return ['unc', 'it is a network (UNC) path'];
  if (path.startsWith('/') || path.startsWith('\\')) return ['absolute', 'it is absolute'];
  if (DRIVE.test(path)) return ['drive', 'it starts with a drive letter'];
  if (path.includes('\\')) return ['backslash', 'it has a backslash (the only separator is "/")'];
  if (utf8.encode(path).length > MAX_PATH_BYTES) return ['too-long', `it is longer than ${MAX_PATH_BYTES} bytes`];
  return undefined;
}

/**
 * Checks a path read from a collection, exactly: it must already be what normaliseEntryPath makes.
 * Never changes it.
 * @param entry the entry's position, named in the error.
 * @throws PathError naming the first rule the path breaks.
 */
export function checkEntryPath(path: string, entry?: number): void {
  if (typeof path !== 'string') throw new TypeError('a path is a string');
  const whole = wholeProblem(path);
  if (whole) refuse(whole[0], path, whole[1], entry);
  const segments = path.split('/');
  if (segments.length > MAX_PATH_DEPTH) refuse('too-deep', path, `it is deeper than ${MAX_PATH_DEPTH} segments`, entry);
  for (const segment of segments) {
    const problem = segmentProblem(segment);
    if (problem) refuse(problem[0], path, problem[1], entry);
  }
}

/** True when `path` is a valid collection path (checkEntryPath would not throw). */
export function isEntryPath(path: string): boolean {
  try {
    checkEntryPath(path);
    return true;
  } catch (error) {
    if (error instanceof PathError) return false;
    throw error;
  }
}

/** A sender's name cleaned into a segment, or why it cannot be. */
function cleanSegment(name: string): string | [PathProblem, string] {
  if (name === '.' || name === '..') return ['dot-segment', `it has a "${name}" segment`];
  if (name.includes('/')) return ['forbidden-character', 'a name has a "/" in it'];
  if (LONE_SURROGATE.test(name)) return ['not-utf8', 'it is not valid Unicode text'];
  let segment = name.replace(CONTROLS, '').replace(INVISIBLE, '').replace(WINDOWS_FORBIDDEN, '_').replace(/\\/g, '_');
  segment = segment
    .normalize('NFC')
    .replace(/^\s+/, '')
    .replace(/[\s.]+$/, '');
  if (segment === '') return ['empty-segment', 'nothing is left of a name once cleaned'];
  if (isDeviceName(segment)) segment = `_${segment}`;
  if (utf8.encode(segment).length > MAX_SEGMENT_BYTES)
    return ['segment-too-long', `a name is longer than ${MAX_SEGMENT_BYTES} bytes`];
  return segment;
}

/**
 * A sender's file or folder name made into a valid segment, the way safeFileName cleans a saved
 * name (controls and invisible characters removed, Windows-forbidden characters and backslashes
 * replaced by "_", leading spaces and trailing spaces and dots dropped, device names prefixed with
 * "_"), then NFC; leading dots stay. Nothing is cut: a name still too long is refused.
 * @throws PathError (`dot-segment`, `empty-segment`, `segment-too-long`, `not-utf8`,
 *   `forbidden-character` for a name with a "/" in it).
 */
export function normaliseSegment(name: string, entry?: number): string {
  const cleaned = cleanSegment(name);
  if (typeof cleaned !== 'string') refuse(cleaned[0], name, cleaned[1], entry);
  return cleaned;
}

/**
 * The collection path for a sender's entry. A string is a `/`-separated relative path (as a
 * browser's `webkitRelativePath`): its structure is checked strictly (absolute, drive, UNC,
 * backslash, empty, `.` and `..` segments are refused) and each segment normalised. An array is
 * the entry's names from the shared folder down (as a directory walk gives them): each is a name,
 * so a backslash or colon in it is a character, replaced like the others.
 * @throws PathError naming what cannot be fixed.
 */
export function normaliseEntryPath(path: string | readonly string[], entry?: number): string {
  const shown = typeof path === 'string' ? path : path.join('/');
  let names: readonly string[];
  if (typeof path === 'string') {
    const whole = wholeProblem(path);
    // Too long is judged after cleaning, which may shorten it.
    if (whole && whole[0] !== 'too-long') refuse(whole[0], path, whole[1], entry);
    names = path.split('/');
  } else {
    if (path.length === 0) refuse('empty', '', 'it has no names', entry);
    names = path;
  }
  if (names.length > MAX_PATH_DEPTH) refuse('too-deep', shown, `it is deeper than ${MAX_PATH_DEPTH} segments`, entry);
  const segments: string[] = [];
  for (const name of names) {
    if (name === '') refuse('empty-segment', shown, 'it has an empty segment ("//", or a "/" at the end)', entry);
    const cleaned = cleanSegment(name);
    if (typeof cleaned !== 'string') refuse(cleaned[0], shown, cleaned[1], entry);
    segments.push(cleaned);
  }
  const result = segments.join('/');
  if (utf8.encode(result).length > MAX_PATH_BYTES)
    refuse('too-long', shown, `it is longer than ${MAX_PATH_BYTES} bytes`, entry);
  return result;
}

/**
 * The form two segments are compared in for collisions: case-folded (upper then lower case, so
 * "ß" meets "ss" and "ǅ" meets "ǆ"), canonically composed, without the joiners HFS+ ignores. It
 * errs towards calling two names the same: refusing a pair Linux could keep is the safe mistake.
 */
export function foldSegment(segment: string): string {
  return segment.normalize('NFD').replace(IGNORED_BY_HFS, '').toUpperCase().toLowerCase().normalize('NFC');
}

export type EntryKind = 'file' | 'folder';

interface PathNode {
  readonly name: string;
  readonly parent: PathNode | undefined;
  /** `implied`: a folder only because an entry below it names it. */
  kind: EntryKind | 'implied';
  children: Map<string, PathNode> | undefined;
}

function pathOf(node: PathNode): string {
  const names: string[] = [];
  for (let n: PathNode | undefined = node; n?.parent; n = n.parent) names.push(n.name);
  return names.reverse().join('/');
}

/**
 * The paths of one collection, as a tree of folded segments, refusing any entry that would land on
 * another on some system: the same path twice, two paths (or two folders on the way) equal once
 * folded, or a path used both as a file and as a folder. Memory grows with the segments added (one
 * node per distinct folder or entry), never more: the caller bounds how many entries it adds.
 */
export class PathIndex {
  private readonly root: PathNode = { name: '', parent: undefined, kind: 'implied', children: undefined };
  private count = 0;

  get size(): number {
    return this.count;
  }

  /**
   * Adds an entry whose path already passed checkEntryPath (or came from normaliseEntryPath).
   * @throws PathError (`duplicate`, `collision`, `file-and-folder`) naming the entry and the path
   *   it meets.
   */
  add(path: string, kind: EntryKind, entry?: number): void {
    const segments = path.split('/');
    let node = this.root;
    for (let i = 0; i < segments.length; i++) {
      const name = segments[i]!;
      const last = i === segments.length - 1;
      const key = foldSegment(name);
      node.children ??= new Map();
      const found = node.children.get(key);
      if (!found) {
        const child: PathNode = { name, parent: node, kind: last ? kind : 'implied', children: undefined };
        node.children.set(key, child);
        node = child;
        continue;
      }
      const other = pathOf(found);
      const where = { entry, other };
      if (found.name !== name) {
        throw new PathError(
          'collision',
          path,
          'it and another entry differ only in case or Unicode form: one would overwrite the other on macOS and Windows',
          where,
        );
      }
      if (!last) {
        if (found.kind === 'file')
          throw new PathError('file-and-folder', path, 'it puts a file inside another entry that is a file', where);
        node = found;
        continue;
      }
      if (found.kind === kind) throw new PathError('duplicate', path, 'the collection has it twice', where);
      if (kind === 'folder' && found.kind === 'implied') {
        found.kind = 'folder';
        node = found;
        continue;
      }
      throw new PathError('file-and-folder', path, 'it is a file and a folder at once', where);
    }
    this.count++;
  }
}
