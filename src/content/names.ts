// Turning a name from a manifest (chosen by whoever made the file: untrusted) into a safe file
// name for saving, on any system the CLI or a browser download may write to: no folders, no
// control or invisible characters, nothing hidden, no name Windows treats as a device, at most 255
// UTF-8 bytes.

const FALLBACK = 'mycel-download';
const MAX_SAVED_NAME_BYTES = 255;
const utf8 = new TextEncoder();

// C0 and C1 controls and DEL.
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
export const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
// Characters that change how a name reads without being seen: bidirectional embeddings, overrides,
// isolates and marks ("invoice\u202Efdp.exe" shows as "invoiceexe.pdf"), zero-width space, word
// joiner and invisible operators, the byte order mark, soft hyphen, the Mongolian vowel separator,
// deprecated format controls, interlinear annotation marks, and the line and paragraph separators.
// ZWJ and ZWNJ (U+200C, U+200D) stay: emoji sequences and several scripts need them.
export const INVISIBLE =
  /[\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;
// Windows refuses these in names, and "a:b" on NTFS writes to an alternate data stream of "a".
export const WINDOWS_FORBIDDEN = /[<>:"|?*]/g;
// Device names Windows opens instead of a file, with or without an extension ("nul.txt" too).
export const WINDOWS_DEVICE = /^(con|prn|aux|nul|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/**
 * A safe name for saving a file whose manifest says `name`: the last path segment, without control
 * and invisible characters, without leading dots (no hidden files: ".bashrc" → "bashrc") or the
 * trailing dots and spaces Windows drops, with Windows-forbidden characters replaced by "_" and a
 * Windows device name prefixed with "_"; "mycel-download" when nothing is left.
 */
export function safeFileName(name: string): string {
  let base = name.split(/[/\\]/).pop() ?? '';
  base = base.replace(CONTROLS, '').replace(INVISIBLE, '').replace(WINDOWS_FORBIDDEN, '_');
  base = base.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');
  if (base === '') return FALLBACK;
  if (WINDOWS_DEVICE.test(base.replace(/\s+(?=\.|$)/, ''))) base = `_${base}`;
  if (utf8.encode(base).length > MAX_SAVED_NAME_BYTES) {
    while (utf8.encode(base).length > MAX_SAVED_NAME_BYTES) base = [...base].slice(0, -1).join('');
    // Cutting may leave a dot or space at the end again.
    base = base.replace(/[\s.]+$/, '');
  }
  return base;
}
