// The service worker's file responses, against the real IndexedDB in Chromium: whole files, byte
// ranges (what audio and video seeking asks for), downloads, files this device does not hold, and
// the type policy: a declared media type is the file maker's claim, and only passive types on the
// allow list are ever served inline; every answer carries the file policy's headers.
import { describe, expect, it } from 'vitest';
import { sealFile } from '../../src/content/seal.js';
import { formatLink } from '../../src/content/share-link.js';
import { openIdbBlockStore, openMycelDatabase, IdbLibrary } from '../../src/store/idb.browser.js';
import { fileResponse, fileUrl, parseRange } from '../../web/lib/file-response.js';
import { FILE_SECURITY_HEADERS, normaliseMediaType, presentationFor } from '../../src/content/presentation.js';
import { viewerFor } from '../../web/lib/format.js';
import { pseudoRandomBytes, sameBytes } from '../helpers/data.js';

async function holding(bytes: Uint8Array, name: string, mediaType: string) {
  const db = await openMycelDatabase(`mycel-file-response-${Math.random()}`);
  const store = await openIdbBlockStore({ db });
  const sealed = await sealFile([bytes], (b) => store.put(b.id, b.bytes), { name, mediaType, chunkSize: 64 * 1024 });
  await new IdbLibrary(db).put({
    root: sealed.root,
    link: formatLink('http://localhost', sealed.root, sealed.key),
    name,
    size: bytes.length,
    mediaType,
    source: 'added',
    addedAt: Date.now(),
    pinned: true,
    complete: true,
  });
  return { db, root: sealed.root };
}

const request = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  new Request(new URL(path, location.origin), { headers, method });

describe('file responses from IndexedDB', () => {
  const bytes = pseudoRandomBytes(300_001, 8);

  it('serves the whole file with its type and length', async () => {
    const { db, root } = await holding(bytes, 'clip.webm', 'video/webm');
    const response = await fileResponse(db, request(fileUrl(root, 'clip.webm')));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/webm');
    expect(response.headers.get('content-length')).toBe('300001');
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('content-disposition')).toMatch(/^inline;/);
    expect(sameBytes(new Uint8Array(await response.arrayBuffer()), bytes)).toBe(true);
  });

  it('serves a byte range across chunk boundaries as 206', async () => {
    const { db, root } = await holding(bytes, 'clip.webm', 'video/webm');
    const response = await fileResponse(db, request(fileUrl(root, 'x'), { Range: 'bytes=65530-131080' }));
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe('bytes 65530-131080/300001');
    expect(sameBytes(new Uint8Array(await response.arrayBuffer()), bytes.subarray(65530, 131081))).toBe(true);
  });

  it('answers HEAD without a body and marks downloads as attachments with the UTF-8 name', async () => {
    const { db, root } = await holding(bytes, 'résumé "final".pdf', 'application/pdf');
    const head = await fileResponse(db, request(fileUrl(root, 'x'), {}, 'HEAD'));
    expect(head.status).toBe(200);
    expect(head.body).toBeNull();
    const download = await fileResponse(db, request(fileUrl(root, 'x', true)));
    // The name is the safe file name: quotes are refused by Windows, so they become "_" (what
    // Chromium itself saves such a name as); the accents stay in the UTF-8 form.
    expect(download.headers.get('content-disposition')).toBe(
      `attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''${encodeURIComponent('résumé _final_.pdf')}`,
    );
  });

  it('says 404 for a file this device does not hold, and 416 for a range past the end', async () => {
    const { db, root } = await holding(bytes, 'a', 'text/plain');
    expect((await fileResponse(db, request(fileUrl('ab'.repeat(32), 'x')))).status).toBe(404);
    expect((await fileResponse(db, request('/mycel/file/not-an-id/x'))).status).toBe(404);
    const past = await fileResponse(db, request(fileUrl(root, 'x'), { Range: 'bytes=400000-' }));
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe('bytes */300001');
  });
});

describe('Range header parsing', () => {
  it('follows RFC 9110 for single ranges and serves the whole body otherwise', () => {
    expect(parseRange(null, 100)).toBeUndefined();
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 10 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 100 });
    expect(parseRange('bytes=-5', 100)).toEqual({ start: 95, end: 100 });
    expect(parseRange('bytes=-500', 100)).toEqual({ start: 0, end: 100 });
    expect(parseRange('bytes=50-5000', 100)).toEqual({ start: 50, end: 100 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=9-3', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange('items=0-1', 100)).toBeUndefined();
  });
});

/** Every header of the file policy, exactly. */
function expectFilePolicyHeaders(response: Response) {
  for (const [name, value] of Object.entries(FILE_SECURITY_HEADERS)) {
    expect(response.headers.get(name), name).toBe(value);
  }
}

describe('the file policy headers', () => {
  it('are the sandbox CSP, same-origin CORP, same-origin framing, nosniff and no referrer', () => {
    expect(FILE_SECURITY_HEADERS).toEqual({
      'content-security-policy':
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'",
      'cross-origin-resource-policy': 'same-origin',
      'x-frame-options': 'SAMEORIGIN',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
  });

  it('are on whole files, ranges, HEAD, 416 and downloads', async () => {
    const bytes = pseudoRandomBytes(100_000, 9);
    const { db, root } = await holding(bytes, 'song.ogg', 'audio/ogg');
    const answers = [
      await fileResponse(db, request(fileUrl(root, 'x'))),
      await fileResponse(db, request(fileUrl(root, 'x'), { Range: 'bytes=10-20' })),
      await fileResponse(db, request(fileUrl(root, 'x'), { Range: 'bytes=10-20' }, 'HEAD')),
      await fileResponse(db, request(fileUrl(root, 'x'), {}, 'HEAD')),
      await fileResponse(db, request(fileUrl(root, 'x'), { Range: 'bytes=100000-' })),
      await fileResponse(db, request(fileUrl(root, 'x', true))),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 206, 206, 200, 416, 200]);
    for (const answer of answers) expectFilePolicyHeaders(answer);
  });

  it('are on error answers too: not an address, not held, a damaged manifest', async () => {
    const { db, root } = await holding(pseudoRandomBytes(1000, 2), 'a.txt', 'text/plain');
    const notHeld = await fileResponse(db, request(fileUrl('ab'.repeat(32), 'x')));
    const notAnAddress = await fileResponse(db, request('/mycel/file/<script>/x'));
    const entry = (await db.get('library', root))!;
    // The right root with another file's key: the manifest does not open.
    const other = await holding(pseudoRandomBytes(10, 3), 'b', 'text/plain');
    const otherEntry = (await other.db.get('library', other.root))!;
    await db.put('library', { ...entry, link: otherEntry.link.replace(other.root, root) });
    const damaged = await fileResponse(db, request(fileUrl(root, 'x')));
    expect([notHeld.status, notAnAddress.status, damaged.status]).toEqual([404, 404, 500]);
    for (const answer of [notHeld, notAnAddress, damaged]) {
      expectFilePolicyHeaders(answer);
      expect(answer.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    }
  });
});

describe('the media type policy', () => {
  const body = new TextEncoder().encode('<html><script>parent.postMessage("ran", "*")</script></html>');

  async function served(mediaType: string, name = 'file') {
    const { db, root } = await holding(body, name, mediaType);
    return fileResponse(db, request(fileUrl(root, name)));
  }

  const dangerous = [
    'text/html',
    'TEXT/HTML',
    'text/html; charset=utf-8',
    'application/xhtml+xml',
    'application/xml',
    'text/xml',
    'image/svg+xml',
    'application/rss+xml',
    'application/mathml+xml',
    'text/xsl',
    'text/javascript',
    'application/javascript',
    'application/x-javascript',
    'text/css',
    'application/json',
    'application/wasm',
    'text/vtt',
    'multipart/x-mixed-replace; boundary=x',
    'application/x-shockwave-flash',
    'application/octet-stream',
    'chemical/x-unknown',
    'image/x-icon',
    'image/svg',
  ];
  for (const mediaType of dangerous) {
    it(`serves a file declared ${JSON.stringify(mediaType)} as an octet-stream attachment`, async () => {
      const response = await served(mediaType, 'page.html');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/octet-stream');
      expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="page\.html"/);
      expectFilePolicyHeaders(response);
      expect(viewerFor(mediaType)).toBeUndefined();
    });
  }

  const smuggling = [
    // A second type after a comma: some parsers take the last one.
    'image/png, text/html',
    'text/plain,text/html',
    // A header break, a NUL, non-ASCII lookalikes.
    'image/png\r\ncontent-type: text/html',
    'image/png\u0000',
    'image/pnɡ',
    // Unbalanced quotes or a parameter that is not name=value.
    'image/png; x="a',
    'image/png; <svg onload=alert(1)>',
    'image/png;;x',
    // Not a type at all.
    '',
    'png',
    'image/',
    '/png',
    'image/png/x',
    `image/${'p'.repeat(300)}`,
  ];
  for (const mediaType of smuggling) {
    it(`refuses the malformed claim ${JSON.stringify(mediaType)}: attachment, octet-stream`, async () => {
      expect(normaliseMediaType(mediaType)).toBeUndefined();
      expect(presentationFor(mediaType)).toEqual({ contentType: 'application/octet-stream' });
      expect(viewerFor(mediaType)).toBeUndefined();
    });
  }

  it('serves a malformed claim in a real manifest as an attachment', async () => {
    const response = await served('image/png, text/html', 'pic.png');
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment;/);
  });

  const passive: Array<[string, string, string]> = [
    ['image/png', 'image/png', 'image'],
    ['image/jpeg', 'image/jpeg', 'image'],
    ['image/gif', 'image/gif', 'image'],
    ['image/webp', 'image/webp', 'image'],
    ['image/avif', 'image/avif', 'image'],
    ['image/bmp', 'image/bmp', 'image'],
    ['IMAGE/PNG', 'image/png', 'image'],
    ['image/png; name="a;b"', 'image/png', 'image'],
    ['audio/mpeg', 'audio/mpeg', 'audio'],
    ['audio/ogg; codecs=opus', 'audio/ogg', 'audio'],
    ['audio/wav', 'audio/wav', 'audio'],
    ['audio/flac', 'audio/flac', 'audio'],
    ['video/mp4', 'video/mp4', 'video'],
    ['video/webm; codecs="vp8, vorbis"', 'video/webm', 'video'],
    ['video/quicktime', 'video/quicktime', 'video'],
    ['application/pdf', 'application/pdf', 'pdf'],
    ['text/plain', 'text/plain; charset=utf-8', 'text'],
    // The declared charset is dropped: UTF-7 and friends never reach the browser.
    ['text/plain; charset=utf-7', 'text/plain; charset=utf-8', 'text'],
  ];
  for (const [declared, contentType, viewer] of passive) {
    it(`serves a file declared ${JSON.stringify(declared)} inline as ${contentType}, and the page offers a viewer`, async () => {
      const response = await served(declared, 'media');
      expect(response.headers.get('content-type')).toBe(contentType);
      expect(response.headers.get('content-disposition')).toMatch(/^inline;/);
      expectFilePolicyHeaders(response);
      expect(viewerFor(declared)).toBe(viewer);
    });
  }

  it('serves a passive type as an attachment, with its type, when a download is asked for', async () => {
    const { db, root } = await holding(body, 'photo.png', 'image/png');
    const response = await fileResponse(db, request(fileUrl(root, 'photo.png', true)));
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment;/);
  });

  it('names the attachment with the safe file name: no bidi override, no leading dot', async () => {
    const spoofed = await served('text/html', 'invoice\u202Efdp.html');
    expect(spoofed.headers.get('content-disposition')).toBe(
      `attachment; filename="invoicefdp.html"; filename*=UTF-8''invoicefdp.html`,
    );
    const hidden = await served('application/x-sh', '.bashrc');
    expect(hidden.headers.get('content-disposition')).toMatch(/^attachment; filename="bashrc"/);
  });

  it('lets nothing but the allow list have a viewer in the page', () => {
    expect(viewerFor('image/svg+xml')).toBeUndefined();
    expect(viewerFor('audio/x-anything')).toBeUndefined();
    expect(viewerFor('video/x-anything')).toBeUndefined();
    expect(viewerFor('text/html')).toBeUndefined();
  });
});
