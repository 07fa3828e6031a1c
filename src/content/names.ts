// Turning a name from a manifest (chosen by whoever made the file: untrusted) into a safe file
// name for saving: no folders, no control characters, no "." or "..", at most 255 UTF-8 bytes.

const FALLBACK = 'mycel-download';
const utf8 = new TextEncoder();

export function safeFileName(name: string): string {
  let base = name.split(/[/\\]/).pop() ?? '';
  base = base.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim();
  if (base === '' || base === '.' || base === '..') return FALLBACK;
  while (utf8.encode(base).length > 255) base = [...base].slice(0, -1).join('');
  return base;
}
