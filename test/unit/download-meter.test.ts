// The service worker's side of a download the page follows (web/lib/download-meter.ts): the bytes
// that leave are counted and reported, the end is reported, and Cancel errors the answer (so the
// browser drops the partial file) and stops its source.
import { describe, expect, it } from 'vitest';
import { DownloadMeters, downloadIdOf, withDownloadId, type DownloadReport } from '../../web/lib/download-meter.js';

function source(chunks: number, size: number) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled === chunks) return controller.close();
      state.pulled++;
      controller.enqueue(new Uint8Array(size));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { state, stream };
}

describe('a download the page follows', () => {
  it('reports the bytes that left and then that it is done', async () => {
    const reports: DownloadReport[] = [];
    const meters = new DownloadMeters((r) => reports.push(r));
    const { stream } = source(4, 100);
    const body = meters.meter('d1', stream, 400);
    const read = new Uint8Array(await new Response(body).arrayBuffer());
    expect(read.length).toBe(400);
    expect(reports.at(-1)).toMatchObject({ id: 'd1', sent: 400, total: 400, state: 'done' });
    expect(meters.size).toBe(0);
  });

  it('on Cancel, errors the answer and stops its source', async () => {
    const reports: DownloadReport[] = [];
    const meters = new DownloadMeters((r) => reports.push(r));
    const { state, stream } = source(1000, 100);
    const reader = meters.meter('d2', stream, 100_000).getReader();
    await reader.read();
    meters.cancel('d2');
    await expect(reader.read()).rejects.toMatchObject({ code: 'ABORTED' });
    expect(state.cancelled).toBe(true);
    expect(state.pulled).toBeLessThan(1000);
    expect(reports.at(-1)).toMatchObject({ id: 'd2', state: 'cancelled' });
  });

  it('carries its id in the URL, and ignores an id that is not one the page makes', () => {
    const url = withDownloadId('/mycel/file/abc/x.bin?download=1', 'a-1');
    expect(downloadIdOf(new URL(url, 'http://x'))).toBe('a-1');
    expect(downloadIdOf(new URL('/f?dl=%3Cscript%3E', 'http://x'))).toBeUndefined();
    expect(downloadIdOf(new URL(`/f?dl=${'a'.repeat(65)}`, 'http://x'))).toBeUndefined();
  });
});
