// Saving a file under the name its manifest declares: the name is the file maker's choice, so it
// must not pick a folder, hide itself, disguise its extension or name a Windows device.
import { describe, expect, it } from 'vitest';
import { safeFileName } from '../../src/content/names.js';

const utf8 = new TextEncoder();

describe('safeFileName', () => {
  it('keeps an ordinary name, accents, emoji sequences and joiners as they are', () => {
    expect(safeFileName('holiday photos.tar.gz')).toBe('holiday photos.tar.gz');
    expect(safeFileName('résumé final.pdf')).toBe('résumé final.pdf');
    expect(safeFileName('family 👨‍👩‍👧.png')).toBe('family 👨‍👩‍👧.png');
    expect(safeFileName('می‌خواهم.txt')).toBe('می‌خواهم.txt');
  });

  it('keeps only the last path segment, for / and \\ alike', () => {
    expect(safeFileName('../../etc/passwd')).toBe('passwd');
    expect(safeFileName('C:\\Windows\\system32\\evil.dll')).toBe('evil.dll');
    expect(safeFileName('folder/')).toBe('mycel-download');
  });

  it('removes C0 and C1 control characters', () => {
    expect(safeFileName('a\u0000b\u001bc\u007fd\u0085e.txt')).toBe('abcde.txt');
  });

  it('removes every bidirectional control, so an extension cannot be disguised', () => {
    // Shown as "invoiceexe.pdf" by a bidi-aware file manager, really an .exe.
    expect(safeFileName('invoice\u202Efdp.exe')).toBe('invoicefdp.exe');
    const bidi = [
      '\u202A',
      '\u202B',
      '\u202C',
      '\u202D',
      '\u202E',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
      '\u200E',
      '\u200F',
      '\u061C',
    ];
    for (const control of bidi) {
      expect(safeFileName(`re${control}port.txt`), `U+${control.codePointAt(0)!.toString(16)}`).toBe('report.txt');
    }
  });

  it('removes other invisible format characters: zero-width space, word joiner, BOM, soft hyphen, line separators', () => {
    for (const invisible of [
      '\u200B',
      '\u2060',
      '\u2063',
      '\uFEFF',
      '\u00AD',
      '\u180E',
      '\u206A',
      '\uFFF9',
      '\u2028',
      '\u2029',
    ]) {
      expect(safeFileName(`pay${invisible}pal.html`), `U+${invisible.codePointAt(0)!.toString(16)}`).toBe(
        'paypal.html',
      );
    }
  });

  it('removes leading dots, so a file is never saved hidden', () => {
    expect(safeFileName('.bashrc')).toBe('bashrc');
    expect(safeFileName('..hidden.txt')).toBe('hidden.txt');
    expect(safeFileName(' . .profile')).toBe('profile');
    expect(safeFileName('\u202E.bashrc')).toBe('bashrc');
  });

  it('falls back to a neutral name when nothing is left', () => {
    for (const empty of ['', '.', '..', '...', '   ', '\u202E\u200B', '/', '. . .']) {
      expect(safeFileName(empty), JSON.stringify(empty)).toBe('mycel-download');
    }
  });

  it('removes trailing dots and spaces, which Windows drops and which can hide the real extension', () => {
    expect(safeFileName('report.exe. . .')).toBe('report.exe');
    expect(safeFileName('notes.txt   ')).toBe('notes.txt');
    expect(safeFileName('archive.')).toBe('archive');
  });

  it('prefixes Windows device names, with or without an extension, in any case', () => {
    for (const device of ['CON', 'prn', 'Aux', 'NUL', 'COM1', 'com9', 'LPT1', 'lpt3', 'COM¹', 'CONIN$', 'conout$']) {
      expect(safeFileName(device), device).toBe(`_${device}`);
      expect(safeFileName(`${device}.txt`), `${device}.txt`).toBe(`_${device}.txt`);
    }
    expect(safeFileName('nul.tar.gz')).toBe('_nul.tar.gz');
    expect(safeFileName('CON .txt')).toBe('_CON .txt');
    expect(safeFileName('CON.')).toBe('_CON');
    // Only whole device names: these are ordinary files.
    expect(safeFileName('console.log')).toBe('console.log');
    expect(safeFileName('COM10')).toBe('COM10');
    expect(safeFileName('nullable.ts')).toBe('nullable.ts');
  });

  it('replaces the characters Windows refuses, so "a:b" cannot become an NTFS alternate stream', () => {
    expect(safeFileName('notes.txt:hidden')).toBe('notes.txt_hidden');
    expect(safeFileName('a<b>c"d|e?f*g.txt')).toBe('a_b_c_d_e_f_g.txt');
  });

  it('cuts names to 255 UTF-8 bytes on a character boundary, without leaving a trailing dot', () => {
    const long = safeFileName('é'.repeat(300));
    expect(utf8.encode(long).length).toBeLessThanOrEqual(255);
    expect(long).toBe('é'.repeat(127));
    const dotted = safeFileName(`${'a'.repeat(254)}.b${'c'.repeat(10)}`);
    expect(dotted).toBe('a'.repeat(254));
  });
});
