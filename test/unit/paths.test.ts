// The path rules for collections (src/content/paths.ts). A collection's paths are chosen by
// whoever made it: each row of the hostile table is a path a malicious sender writes into a
// listing to reach outside the folder it is saved into, to overwrite another entry, to open a
// device, or to make a name read as something it is not. The receiver refuses each with the rule
// it breaks; the sender side cleans what can be cleaned and refuses the rest.
import { describe, expect, it } from 'vitest';
import {
  MAX_PATH_BYTES,
  MAX_PATH_DEPTH,
  MAX_SEGMENT_BYTES,
  PathIndex,
  checkEntryPath,
  foldSegment,
  isEntryPath,
  normaliseEntryPath,
} from '../../src/content/paths.js';
import { PathError, type PathProblem } from '../../src/errors.js';

function problemOf(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (error) {
    if (error instanceof PathError) return error.problem;
    return `threw ${(error as Error).name}`;
  }
}

const deep = Array.from({ length: MAX_PATH_DEPTH + 1 }, (_, i) => `d${i}`).join('/');
const long = Array.from({ length: 5 }, () => 'x'.repeat(250)).join('/');

// Path as found in a listing → the rule it breaks.
const HOSTILE: [string, string, PathProblem][] = [
  ['empty', '', 'empty'],
  ['parent at the start', '../x', 'dot-segment'],
  ['parent in the middle, climbing out', 'a/../../b', 'dot-segment'],
  ['parent at the end', 'a/..', 'dot-segment'],
  ['current folder', './a', 'dot-segment'],
  ['absolute', '/etc/passwd', 'absolute'],
  ['absolute with a backslash', '\\Windows\\win.ini', 'absolute'],
  ['UNC, slashes', '//server/share/x', 'unc'],
  ['UNC, backslashes', '\\\\server\\share\\x', 'unc'],
  ['drive and backslash', 'C:\\x', 'drive'],
  ['drive-relative', 'C:x', 'drive'],
  ['drive and slash', 'c:/x', 'drive'],
  ['backslash as a separator', 'a\\..\\..\\b', 'backslash'],
  ['empty segment', 'a//b', 'empty-segment'],
  ['trailing slash', 'a/', 'empty-segment'],
  ['NUL', 'a\u0000b', 'control'],
  ['newline', 'a\nb', 'control'],
  ['terminal escape', '\u001b[31mred', 'control'],
  ['C1 control', 'a\u0085b', 'control'],
  ['right-to-left override', 'invoice\u202efdp.exe', 'invisible'],
  ['zero-width space', 'a\u200bb', 'invisible'],
  ['byte order mark', '\ufeffa', 'invisible'],
  ['NTFS alternate stream', 'a.txt:hidden', 'forbidden-character'],
  ['question mark', 'a?b', 'forbidden-character'],
  ['star', 'a*b', 'forbidden-character'],
  ['pipe', 'a|b', 'forbidden-character'],
  ['angle bracket', 'a<b', 'forbidden-character'],
  ['device', 'con', 'device-name'],
  ['device with an extension', 'CON.txt', 'device-name'],
  ['device in a folder', 'dir/nul', 'device-name'],
  ['serial port', 'com1.log', 'device-name'],
  ['superscript port', 'COM¹', 'device-name'],
  ['console input', 'conin$', 'device-name'],
  ['device, space before the dot', 'aux .txt', 'device-name'],
  ['trailing dot', 'a.', 'edge-space-or-dot'],
  ['trailing space', 'a ', 'edge-space-or-dot'],
  ['leading space', ' a', 'edge-space-or-dot'],
  ['trailing dot on a folder', 'dir./x', 'edge-space-or-dot'],
  ['decomposed (not NFC)', 'e\u0301t\u00e9', 'not-nfc'],
  ['lone surrogate', 'a\ud800', 'not-utf8'],
  ['segment too long', 'x'.repeat(MAX_SEGMENT_BYTES + 1), 'segment-too-long'],
  ['segment too long in bytes', 'é'.repeat(128), 'segment-too-long'],
  ['path too long', long, 'too-long'],
  ['too deep', deep, 'too-deep'],
];

const ACCEPTED: [string, string][] = [
  ['a plain name', 'a'],
  ['a hidden file', '.gitignore'],
  ['nested hidden folder', 'a/.config/x'],
  ['non-ASCII', 'été/日本語.txt'],
  ['emoji with a joiner', '👩\u200d💻.png'],
  ['spaces inside', 'a b/c d.txt'],
  ['a name that starts like a device', 'console.txt'],
  ['dots inside', 'a..b'],
  ['the longest segment', 'x'.repeat(MAX_SEGMENT_BYTES)],
  ['the deepest path', Array.from({ length: MAX_PATH_DEPTH }, () => 'd').join('/')],
  [
    'the longest path',
    Array.from({ length: 4 }, () => 'x'.repeat(254)).join('/') + '/' + 'y'.repeat(MAX_PATH_BYTES - 4 * 255),
  ],
];

describe('a path read from a collection', () => {
  for (const [what, path, problem] of HOSTILE) {
    it(`is refused: ${what}`, () => {
      expect(problemOf(() => checkEntryPath(path, 7))).toBe(problem);
    });
  }

  for (const [what, path] of ACCEPTED) {
    it(`is accepted: ${what}`, () => {
      expect(problemOf(() => checkEntryPath(path))).toBe('accepted');
    });
  }

  it('is refused with an error naming the entry and showing the path escaped', () => {
    const error = (() => {
      try {
        checkEntryPath('evil\u001b]0;pwned\u0007/x', 41);
      } catch (e) {
        return e as PathError;
      }
    })();
    expect(error).toBeInstanceOf(PathError);
    expect(error!.code).toBe('BAD_PATH');
    expect(error!.entry).toBe(41);
    expect(error!.message).toContain('entry 41');
    expect(error!.message).toContain('\\u{1b}');
    // eslint-disable-next-line no-control-regex -- the test is that no control character is left
    expect(error!.message).not.toMatch(/[\u0000-\u001f]/);
  });
});

describe('a sender’s path', () => {
  const CLEANED: [string, string | readonly string[], string][] = [
    ['is composed to NFC', 'e\u0301te\u0301/x', 'été/x'],
    ['has Windows-forbidden characters replaced', 'notes/a:b?.txt', 'notes/a_b_.txt'],
    ['has a backslash in a name replaced', ['dir', 'a\\b'], 'dir/a_b'],
    ['has a colon in a first name replaced, not read as a drive', ['C:', 'x'], 'C_/x'],
    ['has device names prefixed', 'con.txt', '_con.txt'],
    ['has device folders prefixed', 'dir/NUL/x', 'dir/_NUL/x'],
    ['loses trailing dots and spaces', 'notes. ', 'notes'],
    ['loses leading spaces', ' lead', 'lead'],
    ['loses text-direction and invisible characters', 'in\u202evoice\u200b.pdf', 'invoice.pdf'],
    ['loses control characters', 'a\u0007b', 'ab'],
    ['keeps a leading dot', '.config/.env', '.config/.env'],
  ];
  for (const [what, input, output] of CLEANED) {
    it(what, () => {
      const result = normaliseEntryPath(input);
      expect(result).toBe(output);
      expect(isEntryPath(result)).toBe(true);
    });
  }

  const REFUSED: [string, string | readonly string[], PathProblem][] = [
    ['a parent segment', '../x', 'dot-segment'],
    ['an absolute path', '/etc/passwd', 'absolute'],
    ['a drive', 'C:\\x', 'drive'],
    ['a text path whose first name reads as a drive (Windows would)', 'a:b', 'drive'],
    ['a UNC path', '\\\\s\\x', 'unc'],
    ['a backslash separator', 'a\\b', 'backslash'],
    ['an empty segment', 'a//b', 'empty-segment'],
    ['a name with nothing left', 'a/...', 'empty-segment'],
    ['a name too long (never cut)', 'x'.repeat(MAX_SEGMENT_BYTES + 1), 'segment-too-long'],
    ['no names', [], 'empty'],
    ['a name with a slash', ['a/b'], 'forbidden-character'],
    ['a parent name', ['a', '..'], 'dot-segment'],
    ['too deep', deep, 'too-deep'],
    ['too long', long, 'too-long'],
  ];
  for (const [what, input, problem] of REFUSED) {
    it(`is refused for ${what}`, () => {
      expect(problemOf(() => normaliseEntryPath(input, 3))).toBe(problem);
    });
  }

  it('comes out valid, and unchanged when cleaned again, for any mix of hostile characters', () => {
    const alphabet = [
      'a',
      'Z',
      'é',
      'e\u0301',
      '.',
      ' ',
      '/',
      '\\',
      ':',
      '?',
      '\u0000',
      '\u202e',
      '\u200b',
      '\u200d',
      'con',
      'ß',
      '日',
      '\u00a0',
      '\ufeff',
    ];
    let x = 12345;
    const pick = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    let valid = 0;
    for (let n = 0; n < 3000; n++) {
      const text = Array.from({ length: 1 + pick(12) }, () => alphabet[pick(alphabet.length)]).join('');
      let result: string;
      try {
        result = normaliseEntryPath(text);
      } catch (error) {
        expect(error).toBeInstanceOf(PathError);
        continue;
      }
      valid++;
      expect(
        problemOf(() => checkEntryPath(result)),
        JSON.stringify(text),
      ).toBe('accepted');
      expect(normaliseEntryPath(result)).toBe(result);
    }
    expect(valid).toBeGreaterThan(300);
  });
});

describe('the paths of one collection', () => {
  function addAll(entries: [string, 'file' | 'folder'][]) {
    const index = new PathIndex();
    entries.forEach(([path, kind], i) => index.add(path, kind, i));
    return index;
  }
  function refusal(entries: [string, 'file' | 'folder'][]) {
    try {
      addAll(entries);
      return 'accepted';
    } catch (error) {
      const e = error as PathError;
      return { problem: e.problem, entry: e.entry, other: e.other };
    }
  }

  it('refuse two files that differ only in case (one would overwrite the other on macOS or Windows)', () => {
    expect(
      refusal([
        ['a.txt', 'file'],
        ['A.txt', 'file'],
      ]),
    ).toEqual({ problem: 'collision', entry: 1, other: 'a.txt' });
  });
  it('refuse names equal once case-folded, ß and ss among them', () => {
    expect(
      refusal([
        ['straße', 'file'],
        ['STRASSE', 'file'],
      ]),
    ).toMatchObject({ problem: 'collision' });
  });
  it('refuse names HFS+ treats as one (a zero-width non-joiner is ignored there)', () => {
    expect(
      refusal([
        ['.git/config', 'file'],
        ['.g\u200cit/hooks', 'file'],
      ]),
    ).toMatchObject({ problem: 'collision', other: '.git' });
  });
  it('refuse folders on the way that differ only in case', () => {
    expect(
      refusal([
        ['a/x', 'file'],
        ['A/y', 'file'],
      ]),
    ).toEqual({ problem: 'collision', entry: 1, other: 'a' });
  });
  it('refuse a file used as a folder by a later entry', () => {
    expect(
      refusal([
        ['a', 'file'],
        ['a/b', 'file'],
      ]),
    ).toEqual({ problem: 'file-and-folder', entry: 1, other: 'a' });
  });
  it('refuse a file where an earlier entry made a folder', () => {
    expect(
      refusal([
        ['a/b', 'file'],
        ['a', 'file'],
      ]),
    ).toEqual({ problem: 'file-and-folder', entry: 1, other: 'a' });
  });
  it('refuse a folder entry where a file is', () => {
    expect(
      refusal([
        ['a/b', 'file'],
        ['a/b', 'folder'],
      ]),
    ).toMatchObject({ problem: 'file-and-folder' });
  });
  it('refuse the same path twice', () => {
    expect(
      refusal([
        ['x/y', 'file'],
        ['x/y', 'file'],
      ]),
    ).toMatchObject({ problem: 'duplicate', entry: 1 });
    expect(
      refusal([
        ['x', 'folder'],
        ['x', 'folder'],
      ]),
    ).toMatchObject({ problem: 'duplicate', entry: 1 });
  });
  it('accept a folder entry above files, before or after them', () => {
    expect(
      refusal([
        ['a', 'folder'],
        ['a/b', 'file'],
        ['c/d', 'file'],
        ['c', 'folder'],
      ]),
    ).toBe('accepted');
  });
  it('accept siblings and distinct nested trees', () => {
    const index = addAll([
      ['a/b/c', 'file'],
      ['a/b/d', 'file'],
      ['a/e', 'folder'],
      ['été', 'file'],
      ['ete', 'file'],
    ]);
    expect(index.size).toBe(5);
  });

  it('fold case and form the same way for composed and decomposed input', () => {
    expect(foldSegment('É')).toBe(foldSegment('e\u0301'));
  });
});
