// Downloads the page can follow and stop. A download the page starts carries an id in its URL
// (?dl=<id>); the service worker, which answers it, counts the bytes that leave for the browser's
// download and tells the app's windows (every tab gets it; the tab that started it shows it). The
// page's Cancel asks the worker to stop that answer: the body errors, so the browser drops the
// partial download instead of saving a truncated file, and the source (IndexedDB or the tab that
// runs the peer) is cancelled with it.

import { AbortError } from '../../src/errors.js';

/** The query parameter that names a download the page follows. */
export const DOWNLOAD_PARAM = 'dl';
/** Worker to windows: how a followed download goes. */
export const DOWNLOAD_REPORT = 'mycel-download';
/** Window to worker: stop that download. */
export const DOWNLOAD_CANCEL = 'mycel-download-cancel';
/** The worker reports a running download at most this often. */
export const DOWNLOAD_REPORT_EVERY_MS = 250;
/** Longest id accepted (the page makes UUIDs). */
const MAX_ID_LENGTH = 64;

export interface DownloadReport {
  readonly type: typeof DOWNLOAD_REPORT;
  readonly id: string;
  /** Bytes handed to the browser so far, and how many the answer has in all (its content-length). */
  readonly sent: number;
  readonly total: number;
  readonly state: 'running' | 'done' | 'failed' | 'cancelled';
  readonly error?: string;
}

export interface DownloadCancel {
  readonly type: typeof DOWNLOAD_CANCEL;
  readonly id: string;
}

/** The download id in a file-route URL, if it names one that is well formed. */
export function downloadIdOf(url: URL): string | undefined {
  const id = url.searchParams.get(DOWNLOAD_PARAM);
  return id && id.length <= MAX_ID_LENGTH && /^[\w-]+$/.test(id) ? id : undefined;
}

/** `url` (a file-route path) with the download id added. */
export function withDownloadId(url: string, id: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${DOWNLOAD_PARAM}=${encodeURIComponent(id)}`;
}

export function isDownloadReport(data: unknown): data is DownloadReport {
  const report = data as Partial<DownloadReport> | null;
  return report?.type === DOWNLOAD_REPORT && typeof report.id === 'string' && typeof report.sent === 'number';
}

export function isDownloadCancel(data: unknown): data is DownloadCancel {
  const cancel = data as Partial<DownloadCancel> | null;
  return cancel?.type === DOWNLOAD_CANCEL && typeof cancel.id === 'string';
}

/** The downloads the worker answers now, by id: what Cancel stops. */
export class DownloadMeters {
  private readonly running = new Map<string, () => void>();

  constructor(
    private readonly report: (report: DownloadReport) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many are running (tests). */
  get size(): number {
    return this.running.size;
  }

  /** Stops download `id`, if it is running. */
  cancel(id: string): void {
    this.running.get(id)?.();
  }

  /** `body` counted as it is read, reported under `id`, and stoppable by `cancel(id)`. */
  meter(id: string, body: ReadableStream<Uint8Array>, total: number): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    let sent = 0;
    let lastReport = 0;
    let finished = false;
    const tell = (state: DownloadReport['state'], error?: string) =>
      this.report({ type: DOWNLOAD_REPORT, id, sent, total, state, ...(error ? { error } : {}) });
    const finish = (state: Exclude<DownloadReport['state'], 'running'>, error?: string) => {
      if (finished) return false;
      finished = true;
      this.running.delete(id);
      tell(state, error);
      return true;
    };
    const stopSource = (reason: unknown): void => {
      reader.cancel(reason).catch(() => {
        // A source that already failed has nothing more to stop.
      });
    };
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.running.set(id, () => {
          if (!finish('cancelled')) return;
          const reason = new AbortError('download cancelled');
          controller.error(reason);
          stopSource(reason);
        });
        tell('running');
      },
      pull: async (controller) => {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          if (finish('failed', (error as Error).message)) controller.error(error);
          return;
        }
        if (finished) return;
        if (chunk.done) {
          finish('done');
          controller.close();
          return;
        }
        sent += chunk.value.byteLength;
        controller.enqueue(chunk.value);
        const at = this.now();
        if (at - lastReport >= DOWNLOAD_REPORT_EVERY_MS) {
          lastReport = at;
          tell('running');
        }
      },
      // The browser stopped reading (the person cancelled it in the browser's own downloads).
      cancel: (reason) => {
        finish('cancelled');
        stopSource(reason);
      },
    });
  }
}
