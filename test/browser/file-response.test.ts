// The service worker's file responses, against the real IndexedDB in Chromium: whole files, byte
// ranges (what audio and video seeking asks for), downloads, and files this device does not hold.
import { describe, expect, it } from 'vitest';
import { formatLink, sealFile } from '../../src/content/index.js';
import { openIdbBlockStore, openMycelDatabase, IdbLibrary } from '../../src/store/idb.js';
import { fileResponse, fileUrl, parseRange } from '../../web/lib/file-response.js';
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
    expect(download.headers.get('content-disposition')).toBe(
      `attachment; filename="r_sum_ _final_.pdf"; filename*=UTF-8''${encodeURIComponent('résumé "final".pdf')}`,
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
