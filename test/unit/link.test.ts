import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../../src/content/bytes.js';
import { formatLink, parseLink } from '../../src/content/share-link.js';
import { LinkError } from '../../src/errors.js';
import { pseudoRandomBytes } from '../helpers/data.js';

const root = 'ab'.repeat(32);
const key = pseudoRandomBytes(32, 3);
const good = formatLink('https://mycel.example:8443', root, key);

function problemOf(text: string) {
  try {
    parseLink(text);
  } catch (error) {
    expect(error).toBeInstanceOf(LinkError);
    return (error as LinkError).problem;
  }
  throw new Error(`parsed: ${text}`);
}

describe('share links', () => {
  it('round-trip origin, root and key', () => {
    expect(good).toMatch(/^https:\/\/mycel\.example:8443\/#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
    const link = parseLink(good);
    expect(link.origin).toBe('https://mycel.example:8443');
    expect(link.root).toBe(root);
    expect(Buffer.from(link.key).equals(Buffer.from(key))).toBe(true);
  });

  it('accept a bare fragment and surrounding whitespace', () => {
    const fragment = good.slice(good.indexOf('#'));
    expect(parseLink(`  ${fragment}\n`).root).toBe(root);
    expect(parseLink(fragment.slice(1)).origin).toBe('');
  });

  it('name what is wrong with a bad link', () => {
    const [idPart, keyPart] = good.split('#')[1]!.split('.') as [string, string];
    expect(problemOf('')).toBe('not-a-link');
    expect(problemOf('ftp://x/#a.b')).toBe('not-a-link');
    expect(problemOf('https://mycel.example/')).toBe('no-fragment');
    expect(problemOf(`https://mycel.example/#${idPart}`)).toBe('truncated');
    expect(problemOf(`https://mycel.example/#${idPart}.`)).toBe('truncated');
    expect(problemOf(`https://mycel.example/#${idPart}.${keyPart.slice(0, 30)}`)).toBe('key-length');
    expect(problemOf(`https://mycel.example/#${idPart.slice(0, 20)}`)).toBe('id-length');
    expect(problemOf(`https://mycel.example/#${idPart}AAAA.${keyPart}`)).toBe('id-length');
    expect(problemOf(`https://mycel.example/#${idPart}.${keyPart}AAAA`)).toBe('key-length');
    expect(problemOf(`https://mycel.example/#${idPart}.${keyPart}.x`)).toBe('bad-encoding');
    expect(problemOf(`https://mycel.example/#${idPart.replace(/.$/, '!')}.${keyPart}`)).toBe('bad-encoding');
    expect(problemOf('x'.repeat(5000))).toBe('not-a-link');
  });

  it('give a message that says what is wrong', () => {
    const [idPart, keyPart] = good.split('#')[1]!.split('.') as [string, string];
    expect(() => parseLink(`#${idPart}.${keyPart.slice(0, 30)}`)).toThrow(/key is 22 bytes, it must be 32/);
    expect(() => parseLink(`#${idPart}`)).toThrow(/no key/);
  });
});

describe('base64url', () => {
  it('round-trips every length and rejects non-canonical text', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = pseudoRandomBytes(n, n + 1);
      expect(Buffer.from(fromBase64Url(toBase64Url(bytes))!).equals(Buffer.from(bytes))).toBe(true);
      expect(toBase64Url(bytes)).toBe(Buffer.from(bytes).toString('base64url'));
    }
    expect(fromBase64Url('A')).toBeUndefined();
    expect(fromBase64Url('AB')).toBeUndefined(); // trailing bits set
    expect(fromBase64Url('AA')).toEqual(new Uint8Array([0]));
    expect(fromBase64Url('A+==')).toBeUndefined();
  });
});
