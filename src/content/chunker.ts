// Splits a byte stream of any size into fixed-size chunks, holding at most one chunk at a time. The
// last chunk is flagged (it is sealed differently), so a full chunk is released only once a byte
// after it has arrived; an empty source still yields one empty, last chunk.

import { throwIfAborted } from '../errors.js';

/** Anything that yields bytes: a browser `File.stream()`, a Node read stream, an array of parts. */
export type ByteSource = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | Iterable<Uint8Array>;

export interface Chunk {
  readonly index: number;
  readonly bytes: Uint8Array;
  readonly last: boolean;
}

/** Iterates any ByteSource; a ReadableStream is read through its reader and released on exit. */
export async function* iterateBytes(source: ByteSource): AsyncGenerator<Uint8Array> {
  if (typeof (source as ReadableStream<Uint8Array>).getReader === 'function') {
    const reader = (source as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else {
    yield* source as AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  }
}

export async function* readChunks(source: ByteSource, chunkSize: number, signal?: AbortSignal): AsyncGenerator<Chunk> {
  let current = new Uint8Array(chunkSize);
  let filled = 0;
  let index = 0;
  for await (const piece of iterateBytes(source)) {
    throwIfAborted(signal);
    if (!(piece instanceof Uint8Array)) throw new TypeError('a byte source must yield Uint8Array');
    let offset = 0;
    while (offset < piece.length) {
      if (filled === chunkSize) {
        yield { index: index++, bytes: current, last: false };
        current = new Uint8Array(chunkSize);
        filled = 0;
      }
      const n = Math.min(chunkSize - filled, piece.length - offset);
      current.set(piece.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
    }
  }
  throwIfAborted(signal);
  yield { index, bytes: current.subarray(0, filled), last: true };
}
