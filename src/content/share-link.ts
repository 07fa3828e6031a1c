// Share links: `<origin>/#<root id>.<file key>`, both base64url (43 characters each). The key
// lives only in the fragment, which browsers never send to a server. Parsing is strict and says
// exactly which part is wrong; it never throws anything but LinkError for bad text.

import { LinkError } from '../errors.js';
import { fromBase64Url, toBase64Url } from './bytes.js';
import { BLOCK_ID_BYTES, FILE_KEY_BYTES, blockIdFromBytes, blockIdToBytes, type BlockId } from './format.js';

/** Longest text parseLink looks at; real links are about 120 characters. */
export const MAX_LINK_LENGTH = 2048;
const B64_LENGTH = 43; // 32 bytes, unpadded

export interface FileLink {
  /** Where the signaling server and web app live, e.g. `https://mycel.example` ('' if not given). */
  readonly origin: string;
  readonly root: BlockId;
  readonly key: Uint8Array;
}

export function formatLink(origin: string, root: BlockId, key: Uint8Array): string {
  if (key.length !== FILE_KEY_BYTES) throw new RangeError('a file key is 32 bytes');
  return `${origin.replace(/\/+$/, '')}/#${formatFragment(root, key)}`;
}

/** The part after `#`. */
export function formatFragment(root: BlockId, key: Uint8Array): string {
  return `${toBase64Url(blockIdToBytes(root))}.${toBase64Url(key)}`;
}

/**
 * Parses a full link (`https://host/#id.key`), or just its fragment (`#id.key` or `id.key`).
 * @throws LinkError with `problem` naming what is wrong.
 */
export function parseLink(text: string): FileLink {
  if (typeof text !== 'string') throw new LinkError('not-a-link', 'a link must be text');
  const trimmed = text.trim();
  if (trimmed.length === 0) throw new LinkError('not-a-link', 'the link is empty');
  if (trimmed.length > MAX_LINK_LENGTH) {
    throw new LinkError('not-a-link', `the link is longer than ${MAX_LINK_LENGTH} characters`);
  }
  let origin = '';
  let fragment: string;
  const hash = trimmed.indexOf('#');
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) {
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      throw new LinkError('not-a-link', 'the link is not a valid URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new LinkError('not-a-link', `a link starts with http: or https:, not ${url.protocol}`);
    }
    origin = url.origin;
    if (hash < 0 || hash === trimmed.length - 1) {
      throw new LinkError('no-fragment', 'the link has no #fragment: the file id and key are missing');
    }
    fragment = trimmed.slice(hash + 1);
  } else {
    fragment = hash >= 0 ? trimmed.slice(hash + 1) : trimmed;
  }
  return { origin, ...parseFragment(fragment) };
}

const B64URL_CHARS = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes one 32-byte part. The length is judged before canonical form, so a link cut short is
 * reported as too short rather than as bad encoding.
 */
function decodePart(text: string, what: 'file id' | 'key', problem: 'id-length' | 'key-length'): Uint8Array {
  if (!B64URL_CHARS.test(text)) throw new LinkError('bad-encoding', `the ${what} is not valid base64url`);
  if (text.length !== B64_LENGTH) {
    const bytes = Math.floor((text.length * 6) / 8);
    const hint = text.length < B64_LENGTH ? ' (was the link cut short?)' : '';
    throw new LinkError(problem, `the ${what} is ${bytes} bytes, it must be ${BLOCK_ID_BYTES}${hint}`);
  }
  const bytes = fromBase64Url(text);
  if (!bytes) throw new LinkError('bad-encoding', `the ${what} is not valid base64url`);
  return bytes;
}

/** Parses `id.key`. */
export function parseFragment(fragment: string): { root: BlockId; key: Uint8Array } {
  const parts = fragment.split('.');
  if (parts.length > 2) throw new LinkError('bad-encoding', 'the link has more than one "." after #');
  const [idText = '', keyText] = parts;
  if (idText.length === 0) throw new LinkError('truncated', 'the link has no file id after #');
  const id = decodePart(idText, 'file id', 'id-length');
  if (keyText === undefined || keyText.length === 0) {
    throw new LinkError('truncated', 'the link has no key: it ends before the "." and key part');
  }
  const key = decodePart(keyText, 'key', 'key-length');
  return { root: blockIdFromBytes(id), key };
}
