// The downloads this tab started, as the page shows them: percentage, bytes, speed, time left and
// sources while they run, Cancel, and "Saved <name>" at the end. A download runs in up to two steps:
// a collection's blocks are first fetched into IndexedDB by the peer ("fetching", measured by the
// fetch's progress events), then every download is answered by the service worker ("saving",
// measured by the worker as bytes leave for the browser, see download-meter.ts). A single file
// streams: it is saved while its blocks arrive, so it has the second step only.

import type { BlockId } from '../../src/content/format.js';
import type { FileProgress } from './browser-peer.js';
import { DOWNLOAD_CANCEL, isDownloadReport, withDownloadId, type DownloadReport } from './download-meter.js';
import type { PeerApi } from './tab-link.js';
import { progressText, RateMeter, type Rate } from './transfer-rate.js';

export interface DownloadRow {
  readonly id: string;
  readonly root: BlockId;
  readonly name: string;
  phase: 'fetching' | 'saving' | 'done' | 'cancelled' | 'failed';
  /** Bytes done of `total`, in the current step. */
  done: number;
  total: number;
  rate: Rate;
  /** Peers the blocks come from now; undefined when not fetching from anyone (held here). */
  sources?: number;
  error?: string;
}

/** What a download needs to know of where it comes from. */
export interface DownloadSource {
  readonly root: BlockId;
  readonly name: string;
  /** Plaintext bytes expected (a zip is a little larger; the worker tells its exact length). */
  readonly size: number;
  /** The file route URL the service worker answers. */
  readonly url: string;
  /** Fetches the blocks into IndexedDB first (a collection's entry, or all of it). */
  readonly fetch?: (signal: AbortSignal) => Promise<void>;
}

export class Downloads {
  rows = $state<DownloadRow[]>([]);
  // Not shown, so not reactive: the rows carry what the page shows.
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping only, never rendered
  private readonly meters = new Map<string, RateMeter>();
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping only, never rendered
  private readonly controllers = new Map<string, AbortController>();
  private offProgress: (() => void) | undefined;
  private peer: PeerApi | undefined;

  constructor(
    /** Starts the browser's own download of a URL the service worker answers. */
    private readonly save: (url: string) => void,
    /** Called as bytes arrive (the storage figure follows). */
    private readonly onProgress: () => void = () => undefined,
  ) {
    if ('serviceWorker' in navigator) {
      navigator.serviceWorker.addEventListener('message', (event: MessageEvent) => {
        if (isDownloadReport(event.data)) this.reported(event.data);
      });
    }
  }

  /** The peer (this tab's, or the one reached through another tab) whose fetches are shown. */
  follow(peer: PeerApi): void {
    this.offProgress?.();
    this.peer = peer;
    this.offProgress = peer.on('progress', (p) => this.fetched(p));
  }

  /** This tab's downloads of `root`, newest first. */
  of(root: BlockId): DownloadRow[] {
    return this.rows.filter((r) => r.root === root);
  }

  /** Starts a download; resolves once it is handed to the browser (or failed, or was cancelled). */
  async start(source: DownloadSource): Promise<void> {
    const id = crypto.randomUUID();
    const row: DownloadRow = {
      id,
      root: source.root,
      name: source.name,
      phase: source.fetch ? 'fetching' : 'saving',
      done: 0,
      total: source.size,
      rate: {},
    };
    // Earlier finished downloads of the same file give way to this one.
    this.rows = [row, ...this.rows.filter((r) => r.root !== source.root || this.running(r))];
    this.meters.set(id, new RateMeter(source.size));
    if (source.fetch) {
      const controller = new AbortController();
      this.controllers.set(id, controller);
      try {
        await source.fetch(controller.signal);
      } catch (error) {
        if (!controller.signal.aborted) this.update(id, { phase: 'failed', error: (error as Error).message });
        return;
      } finally {
        this.controllers.delete(id);
      }
      if (this.live(id)?.phase !== 'fetching') return;
      this.meters.set(id, new RateMeter(source.size));
      this.update(id, { phase: 'saving', done: 0, rate: {}, sources: undefined });
    }
    this.save(withDownloadId(source.url, id));
  }

  /** Stops a download: its fetch, its answer from the service worker, and so the browser's download. */
  cancel(id: string): void {
    const row = this.live(id);
    if (!row || !this.running(row)) return;
    this.update(id, { phase: 'cancelled' });
    this.controllers.get(id)?.abort();
    navigator.serviceWorker?.controller?.postMessage({ type: DOWNLOAD_CANCEL, id });
    // A file streamed from peers keeps being fetched ahead of the reader: stop that too.
    this.peer?.stopFetching(row.root).catch(() => {
      // The peer's tab went away: its fetches went with it.
    });
  }

  private running(row: DownloadRow): boolean {
    return row.phase === 'fetching' || row.phase === 'saving';
  }

  private live(id: string): DownloadRow | undefined {
    return this.rows.find((r) => r.id === id);
  }

  private update(id: string, change: Partial<DownloadRow>): void {
    const row = this.live(id);
    if (row) Object.assign(row, change);
  }

  private measure(row: DownloadRow, done: number): Rate {
    return this.meters.get(row.id)?.update(done, Date.now()) ?? {};
  }

  private fetched(p: FileProgress): void {
    for (const row of this.rows) {
      if (row.root !== p.root || !this.running(row)) continue;
      row.sources = p.sources;
      if (row.phase !== 'fetching' || p.blocksTotal === 0) continue;
      row.done = Math.floor((row.total * p.blocksDone) / p.blocksTotal);
      row.rate = this.measure(row, row.done);
    }
    this.onProgress();
  }

  private reported(report: DownloadReport): void {
    const row = this.live(report.id);
    if (!row || row.phase !== 'saving') return;
    row.total = report.total || row.total;
    row.done = report.sent;
    row.rate = this.measure(row, report.sent);
    if (report.state === 'done') row.phase = 'done';
    else if (report.state === 'cancelled') row.phase = 'cancelled';
    else if (report.state === 'failed') {
      row.phase = 'failed';
      row.error = report.error ?? 'the download broke off';
    }
    this.onProgress();
  }
}

/** The words for a running download: "45% · 1.20 MiB of 3.00 MiB · 800 KiB/s · 3 s left". */
export function downloadText(row: DownloadRow): string {
  return progressText(row.done, row.total, row.rate);
}

/** Where the blocks come from, in words. */
export function sourcesText(row: DownloadRow): string {
  if (row.sources === undefined || row.sources === 0) return row.phase === 'fetching' ? 'looking for peers' : '';
  return `from ${row.sources} source${row.sources === 1 ? '' : 's'}`;
}
