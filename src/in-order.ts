// "Keep N in flight, consume in order": the one pipeline shape of this code (sealing chunks,
// reading chunks ahead, listing index blocks, pushing blocks to a seed, scanning a folder). At most
// `limit` operations are started and not yet consumed, so memory is bounded by the window whatever
// the input's length, and results come out in the order their inputs went in.

import { throwIfAborted } from './errors.js';

/**
 * Started operations, consumed oldest first. An operation's failure is thrown when its turn comes
 * (until then it does not count as an unhandled rejection); those behind it are dropped with it.
 */
export class InOrderWindow<T> {
  private readonly pending: Promise<T>[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`a window holds at least 1, not ${limit}`);
  }

  get size(): number {
    return this.pending.length;
  }

  get full(): boolean {
    return this.pending.length >= this.limit;
  }

  add(operation: Promise<T>): void {
    operation.catch(() => {
      // Thrown by next() when its turn comes.
    });
    this.pending.push(operation);
  }

  /** The oldest operation's result; undefined when none is pending. */
  async next(): Promise<T | undefined> {
    return this.pending.shift();
  }

  /** Waits for every pending operation, oldest first. */
  async drain(): Promise<void> {
    while (this.pending.length > 0) await this.pending.shift();
  }

  /** Forgets what is pending (after a failure: nobody will consume it). */
  clear(): void {
    this.pending.length = 0;
  }
}

/**
 * Yields `start(item)` for each item of `source`, in order, with at most `limit` started and not
 * yet yielded. `start` runs synchronously when an item is taken, so an error it throws at once
 * stops the pipeline at once; a rejection waits for its turn.
 * @throws AbortError once `signal` is aborted (checked before each item is taken and yielded).
 */
export async function* mapInOrder<T, R>(
  source: Iterable<T> | AsyncIterable<T>,
  limit: number,
  start: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): AsyncGenerator<R> {
  const window = new InOrderWindow<R>(Math.max(1, Math.floor(limit)));
  // A synchronous source is read without a pause between items, so operations that share work
  // (chunks waiting on one index block) start together, as a loop would start them.
  const sync = !(Symbol.asyncIterator in source);
  const items = sync ? source[Symbol.iterator]() : source[Symbol.asyncIterator]();
  let index = 0;
  let exhausted = false;
  try {
    for (;;) {
      throwIfAborted(signal);
      while (!exhausted && !window.full) {
        const item = sync ? (items as Iterator<T>).next() : await items.next();
        if (item.done) exhausted = true;
        else window.add(start(item.value, index++));
      }
      if (window.size === 0) return;
      yield (await window.next()) as R;
    }
  } finally {
    window.clear();
    if (!exhausted) await items.return?.();
  }
}

/** from, from + 1, … to - 1. */
export function* range(from: number, to: number): Generator<number> {
  for (let i = from; i < to; i++) yield i;
}
