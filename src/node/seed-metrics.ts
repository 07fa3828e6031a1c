// A seed's figures for Prometheus (sessions, connects, replication health, audits, expiry and
// collection), by ciphertext ids and counts only: `serve` renders them on its /metrics beside the
// signaling server's, a standalone `mycel seed --metrics` on its own small HTTP server.

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { Metrics } from '../../signaling/metrics.js';
import type { Logger } from '../log.js';
import { DEFAULT_HTTP_LIMITS, guardConnections, httpServerOptions } from './http-guard.js';
import type { Seed } from './seed.js';

/** Adds the seed's figures to `metrics`, brought up to date at each render. */
export function collectSeedMetrics(seed: Seed, metrics: Metrics): void {
  metrics.addCollector(() => {
    const stats = seed.swarm.stats();
    const m = metrics;
    m.gauge('mycel_seed_sessions', 'Sessions the seed has with peers.', stats.sessions);
    m.gauge(
      'mycel_seed_connecting',
      'Connection attempts offered to the seed and still in progress.',
      stats.connecting,
    );
    m.gauge(
      'mycel_seed_connecting_peak',
      'Most connection attempts offered to the seed in progress at once.',
      stats.connectingPeak,
    );
    m.gauge(
      'mycel_seed_offers_refused',
      'Offers the seed refused (per-origin cap or rate, or too many peers).',
      stats.offersRefused,
    );
    for (const [path, count] of Object.entries(stats.paths)) {
      m.gauge('mycel_seed_connections_by_path', 'Sessions the seed opened since start, by the path taken.', count, {
        path,
      });
    }
    const replication = seed.replication.stats();
    for (const [state, files] of Object.entries(replication.files)) {
      m.gauge(
        'mycel_replication_files',
        'Files the seed holds, by how their live copies compare with the target (at_risk: too few present, or none durable).',
        files,
        { state },
      );
    }
    for (const [result, count] of Object.entries(replication.repairs)) {
      m.counter('mycel_replication_repairs_total', 'Copies this seed pushed to repair a file, by result.', count, {
        result,
      });
    }
    m.counter('mycel_replication_releases_total', 'Surplus copies this seed released.', replication.releases);
    m.gauge(
      'mycel_seed_attempts_evicted',
      'Attempts the seed dropped to make room for newer offers.',
      stats.attemptsEvicted,
    );
  });
  metrics.addCollector(() => {
    const m = metrics;
    // Counters the seed keeps, brought up to date (Metrics only adds to a counter).
    const counter = (name: string, help: string, value: number, labels?: Record<string, string>) =>
      m.inc(name, help, labels, value - m.value(name, labels));
    const audits = seed.audits.totals;
    const AUDITS_HELP = 'Audits of other holders of files the seed holds, by result (unreachable ones are not audits).';
    counter('mycel_audits_total', AUDITS_HELP, audits.passed, { result: 'passed' });
    counter('mycel_audits_total', AUDITS_HELP, audits.failed, { result: 'failed' });
    const SUSPECTS_HELP =
      "Suspect reports (a peer's claim that a holder failed its audit) received, by what the seed did: audited the holder itself, ignored (not a holder of a file it holds), recent (audited on report within the cooldown), limited (over the rate).";
    for (const [outcome, count] of Object.entries(seed.audits.suspects)) {
      counter('mycel_suspect_reports_total', SUSPECTS_HELP, count, { outcome });
    }
    const REPORTED_HELP = 'Audits the seed ran because of a suspect report, by result (also in mycel_audits_total).';
    for (const [result, count] of Object.entries(seed.audits.reported)) {
      counter('mycel_reported_audits_total', REPORTED_HELP, count, { result });
    }
    const housekeeping = seed.housekeeping;
    counter('mycel_expired_files_total', 'Files dropped because their expiry passed.', housekeeping.expiredFiles);
    counter(
      'mycel_collected_blocks_total',
      'Blocks deleted because no file or upload needed them any more.',
      housekeeping.collectedBlocks,
    );
  });
}

/**
 * Serves GET /metrics (the seed's figures) and GET /health on `host:port` for a standalone seed;
 * resolves once listening, with the URL it listens on (port 0 picks a free one).
 */
export async function serveSeedMetrics(
  seed: Seed,
  host: string,
  port: number,
  log: Logger,
): Promise<{ url: string; close(): Promise<void> }> {
  const metrics = new Metrics();
  collectSeedMetrics(seed, metrics);
  const server: Server = createServer(
    httpServerOptions(DEFAULT_HTTP_LIMITS),
    (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics.render());
      } else if (path === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, peer: seed.peerId }));
      } else {
        res.writeHead(404).end();
      }
    },
  );
  guardConnections(server, { limits: DEFAULT_HTTP_LIMITS });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as { address: string; port: number };
  const shown = address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}`;
  log.info('metrics listening', { url: `${url}/metrics` });
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
