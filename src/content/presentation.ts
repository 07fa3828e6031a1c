// How a file held on this device may be presented to the browser. Whoever made a file chose its
// bytes and its declared media type, so both are hostile: served inline as text/html or SVG on the
// app's origin, a file would run script that reads every key in the Library. This module is the one
// place that decides which declared types are shown inline (passive media the browser renders
// without running anything from the file), which must download, and the headers every answer on
// the file route carries. The service worker serves by it, the page offers a viewer only for what
// it serves inline, and the Node server uses the same headers for the file route it does not serve.

/** Where the service worker serves held files: /mycel/file/<root>/<name>. */
export const FILE_ROUTE = '/mycel/file/';

/** A manifest caps its media type at 255 bytes; a longer claim is malformed whatever its source. */
export const MAX_MEDIA_TYPE_LENGTH = 255;

/** How the page shows a file it serves inline. */
export type Viewer = 'image' | 'audio' | 'video' | 'pdf' | 'text';

/**
 * The allow list: the only media types ever served inline, each with the viewer the page uses.
 * Raster images, audio and video the browser decodes itself, PDF (Chromium's viewer runs in its
 * own extension frame, not in the file's document), and plain text. Nothing here can be a
 * document with script: no HTML, no XML of any kind, no SVG.
 */
const INLINE_TYPES: ReadonlyMap<string, Viewer> = new Map<string, Viewer>([
  ['image/png', 'image'],
  ['image/jpeg', 'image'],
  ['image/gif', 'image'],
  ['image/webp', 'image'],
  ['image/avif', 'image'],
  ['image/bmp', 'image'],
  ['audio/mpeg', 'audio'],
  ['audio/mp4', 'audio'],
  ['audio/x-m4a', 'audio'],
  ['audio/aac', 'audio'],
  ['audio/ogg', 'audio'],
  ['audio/opus', 'audio'],
  ['audio/webm', 'audio'],
  ['audio/wav', 'audio'],
  ['audio/x-wav', 'audio'],
  ['audio/flac', 'audio'],
  ['video/mp4', 'video'],
  ['video/webm', 'video'],
  ['video/ogg', 'video'],
  ['video/quicktime', 'video'],
  ['application/pdf', 'pdf'],
  ['text/plain', 'text'],
]);

/** What every file answer that may be downloaded but never shown is labelled as. */
export const DOWNLOAD_ONLY_TYPE = 'application/octet-stream';

/**
 * The Content-Security-Policy of every file answer. `sandbox` gives the file's document an opaque
 * origin with scripts, forms, popups and plugins off: even a document the browser did render could
 * not read the app's IndexedDB or caches. Allowances are only what Chromium's own viewers need,
 * checked in Chromium (test/e2e/hostile-files.spec.ts):
 * - `style-src 'unsafe-inline'`: the image document Chromium builds around an image styles itself
 *   inline (centring, background, zoom cursor); without it every image view logs CSP violations.
 *   No type on the allow list can carry CSS of its own.
 * - Nothing else. An image document shows the navigation's own bytes (no img-src needed). Text
 *   needs nothing. For a PDF, Chromium swaps the document for its own viewer page, keeping only
 *   our frame-ancestors (that page has the app's origin, but none of the file's content runs in
 *   it: the PDF is parsed by PDFium in an extension frame). A media document would re-fetch its own URL from the opaque origin, which the service
 *   worker does not control, so opening a video's URL on its own tab does not play whatever
 *   media-src says: the page plays audio and video in its own <audio>/<video> elements instead.
 * Framing only by the app's own pages (its viewer and its download frame).
 */
export const FILE_CONTENT_SECURITY_POLICY = [
  'sandbox',
  "default-src 'none'",
  "style-src 'unsafe-inline'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'self'",
].join('; ');

/**
 * Headers on every answer on the file route, whatever its status (200, 206, 416, HEAD, errors).
 * - no cross-origin reads of decrypted bytes (CORP), no framing by other origins (XFO for
 *   browsers without CSP frame-ancestors), no sniffing a type other than the one we chose;
 * - no Referer naming the file's root to anything the page links to;
 * - plaintext is never stored in the HTTP cache.
 * No Cross-Origin-Opener-Policy: with a response CSP sandbox, COOP makes top-level navigations
 * fail by spec (sandboxed popups and COOP do not mix).
 */
export const FILE_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': FILE_CONTENT_SECURITY_POLICY,
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
});

// RFC 9110 §5.6.2 token and §5.6.4 quoted-string (ASCII only: obs-text is refused).
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
// RFC 9110 §8.3.1: type "/" subtype *( OWS ";" OWS [ name "=" ( token / quoted-string ) ] )
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})(?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*$`);

/**
 * The essence of a declared media type: `type/subtype`, lowercase, parameters dropped. Returns
 * undefined for anything that is not a well-formed RFC 9110 media type (commas, control
 * characters, unbalanced quotes, non-ASCII, over {@link MAX_MEDIA_TYPE_LENGTH} characters), so a
 * claim that smuggles a second type or a header break never reaches a decision.
 */
export function normaliseMediaType(declared: string): string | undefined {
  if (declared.length > MAX_MEDIA_TYPE_LENGTH) return undefined;
  const match = MEDIA_TYPE.exec(declared.trim());
  if (!match) return undefined;
  return `${match[1]!.toLowerCase()}/${match[2]!.toLowerCase()}`;
}

/** How a file is presented: its Content-Type, and whether (and how) it may be shown inline. */
export interface Presentation {
  readonly contentType: string;
  /** Set only for types on the allow list: the page's viewer, and the answer may be inline. */
  readonly viewer?: Viewer;
}

/**
 * Decides how a file declared as `declared` is served. Allow-listed types keep their normalised
 * type (plain text always as UTF-8: the declared charset is a parameter and parameters are
 * dropped); everything else is {@link DOWNLOAD_ONLY_TYPE} and must be an attachment. Attachments
 * are labelled octet-stream rather than text/plain so the saved bytes carry no claim we did not
 * check, and nothing, browser or extension, is invited to render them.
 */
export function presentationFor(declared: string): Presentation {
  const type = normaliseMediaType(declared);
  const viewer = type === undefined ? undefined : INLINE_TYPES.get(type);
  if (!type || !viewer) return { contentType: DOWNLOAD_ONLY_TYPE };
  return { contentType: type === 'text/plain' ? 'text/plain; charset=utf-8' : type, viewer };
}
