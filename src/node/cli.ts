// The `mycel` command: parses flags and runs one subcommand. A usage error exits 2 with one line;
// any failure (bad link, no holder in time, a quota refusal, an integrity failure) exits 1 with one
// line naming what went wrong.

import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MycelError } from '../errors.js';
import { TrustedProxies, parseAddressList } from '../../signaling/client-address.js';
import { isPeerId } from '../net/identity.js';
import { loadNodeIdentity } from './identity-file.js';
import { parseSize } from '../sizes.js';
import { parseDuration } from './durations.js';
import { MAX_TARGET_COPIES } from '../replication/policy.js';
import { publicOriginOf, startServe, startSignal } from './serve.js';
import { describeSettings, resolveSettings, type SettingSpecs, type Settings } from './settings.js';
import type { IceConfig } from '../../signaling/ice.js';
import { serveSeedMetrics } from './seed-metrics.js';
import { Seed } from './seed.js';
import { repairFsBlockStore } from '../store/fs.node.js';
import { isLedgerCommitFailure } from '../store/lmdb-ledger.node.js';
import { createLogger } from './log.js';
import { runCache, runGet, runPut, runRenew } from './transfer-commands.js';
import { USAGE, commandHelp, isCommand } from './usage.js';
import { runStatus } from './status-command.js';
import { UsageError } from './usage-error.js';
import { useCryptoBackend } from '../content/crypto.js';
import { nodeCryptoBackend } from './node-crypto.js';

// Every block this process seals, opens or hashes goes through node:crypto (see node-crypto.ts).
useCryptoBackend(nodeCryptoBackend);

interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Flags whose values are peer ids. */
const PEER_ID_FLAGS = new Set(['--seed', '--allow']);

/**
 * A peer id is base64url and may begin with '-', which parseArgs would take for a flag: a value
 * after --seed or --allow that is a list of peer ids is joined to its flag.
 */
function joinPeerIdValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (PEER_ID_FLAGS.has(args[i]!) && next?.startsWith('-') && next.split(',').every((s) => isPeerId(s.trim()))) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]!);
  }
  return out;
}

function parse(args: string[], options: ParseArgsConfig['options']): Parsed {
  try {
    const parsed: Parsed = parseArgs({ args: joinPeerIdValues(args), options, allowPositionals: true, strict: true });
    return parsed;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const str = (v: string | boolean | (string | boolean)[] | undefined) => (typeof v === 'string' ? v : undefined);
/** A comma-separated list of server URLs (seed --signal, put/get/renew --server), in order. */
const urlsOf = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
const list = (v: string | boolean | (string | boolean)[] | undefined): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v])
    .filter((x): x is string => typeof x === 'string')
    .flatMap((x) => x.split(','))
    .map((x) => x.trim())
    .filter(Boolean);

/** Flags, environment and config file for a long-running command; --print-config stops here. */
function settings(args: string[], specs: SettingSpecs): Settings | undefined {
  const resolved = resolveSettings(joinPeerIdValues(args), specs);
  if (resolved.positionals.length > 0) throw new UsageError(`unexpected argument: ${resolved.positionals[0]}`);
  if (resolved.printConfig) {
    process.stdout.write(describeSettings(resolved.values, specs) + '\n');
    return undefined;
  }
  return resolved.values;
}

function portOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`bad port: ${text}`);
  return port;
}

/**
 * `--metrics`'s address: a port (on loopback: a seed's figures are for its operator), or
 * host:port, [v6]:port. Undefined when the flag is absent.
 */
function listenAddressOf(text: string | undefined): { host: string; port: number } | undefined {
  if (text === undefined) return undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d+)$/.exec(text);
  if (!match) return { host: '127.0.0.1', port: portOf(text, 0) };
  return { host: match[1] ?? match[2]!, port: portOf(match[3], 0) };
}

function sizeOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const size = parseSize(text);
  if (size === undefined) throw new UsageError(`bad size: ${text} (try 10GiB or 500MB)`);
  return size;
}

function secondsOf(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback * 1000;
  const seconds = Number(text);
  if (!(seconds > 0)) throw new UsageError(`bad timeout: ${text} (seconds)`);
  return seconds * 1000;
}

function proxiesOf(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const entries = parseAddressList(text);
  try {
    new TrustedProxies(entries);
  } catch (error) {
    throw new UsageError(`bad --trust-proxy: ${(error as Error).message}`);
  }
  return entries;
}

/** The shared HTTP front's flags, as startSignal/startServe options. */
function frontOf(values: Parsed['values']) {
  const headerTimeout = str(values['header-timeout']);
  const redis = str(values.redis);
  if (redis !== undefined && !/^(rediss?:\/\/|unix:\/\/\/)/.test(redis))
    throw new UsageError(`bad --redis: ${redis} (try redis://host:6379 or unix:///path/to/redis.sock)`);
  return {
    redis,
    trustProxy: proxiesOf(str(values['trust-proxy'])),
    http: headerTimeout === undefined ? undefined : { headersTimeoutMs: secondsOf(headerTimeout, 0) },
  };
}

const FRONT_FLAGS = {
  port: { type: 'string', default: '8080' },
  host: { type: 'string', default: '0.0.0.0' },
  seed: { type: 'string', multiple: true },
  web: { type: 'string' },
  'trust-proxy': { type: 'string' },
  'header-timeout': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'public-url': { type: 'string' },
  stun: { type: 'string', multiple: true },
  turn: { type: 'string', multiple: true },
  'turn-secret-file': { type: 'string' },
  'turn-secret': { type: 'string', secret: true },
  'turn-ttl': { type: 'string', default: '12h' },
  redis: { type: 'string' },
} as const satisfies SettingSpecs;

/** TLS, the public origin and the ICE servers, as startSignal/startServe options. */
function reachOf(values: Settings) {
  const cert = str(values['tls-cert']);
  const key = str(values['tls-key']);
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--tls-cert and --tls-key go together');
  const publicUrl = str(values['public-url']);
  const turn = list(values.turn);
  const secretFile = str(values['turn-secret-file']);
  let turnSecret = str(values['turn-secret']);
  if (secretFile) {
    try {
      turnSecret = readFileSync(secretFile, 'utf8').trim();
    } catch (error) {
      throw new UsageError(`cannot read --turn-secret-file ${secretFile}: ${(error as NodeJS.ErrnoException).code}`);
    }
    if (!turnSecret) throw new UsageError(`--turn-secret-file ${secretFile} is empty`);
  }
  const ttlText = str(values['turn-ttl']) ?? '12h';
  const turnTtlMs = parseDuration(ttlText);
  if (turnTtlMs === undefined || turnTtlMs < 60_000) throw new UsageError(`bad --turn-ttl: ${ttlText} (try 12h)`);
  if (turn.length > 0 && !turnSecret)
    throw new UsageError('--turn needs the shared secret: --turn-secret-file <path> or MYCEL_TURN_SECRET');
  const ice: IceConfig = { stun: list(values.stun), turn, turnSecret, turnTtlMs };
  return {
    tls: cert && key ? { certFile: cert, keyFile: key } : undefined,
    publicUrl: publicUrl === undefined ? undefined : publicOriginOf(publicUrl),
    ice,
  };
}

/** Peer ids given as a comma list, or as a repeated flag; each must be one. */
function peerIdsOf(flag: string, value: string | boolean | (string | boolean)[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const texts = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
  const ids = texts.flatMap((text) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const id of ids) {
    if (!isPeerId(id))
      throw new UsageError(`--${flag}: not a peer id: ${String(id)} (a peer id is 43 characters; see mycel id)`);
  }
  return ids;
}

const DEFAULT_QUOTA = 10 * 2 ** 30;

/** A --copies value: live copies wanted, 1..MAX_TARGET_COPIES. */
function copiesOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TARGET_COPIES)
    throw new UsageError(`bad --copies: ${text} (live copies wanted, 1 to ${MAX_TARGET_COPIES})`);
  return n;
}

const STORAGE_FLAGS = {
  data: { type: 'string', default: './mycel-data' },
  quota: { type: 'string', default: '10GiB' },
  allow: { type: 'string' },
  'peer-quota': { type: 'string' },
  'open-share': { type: 'string' },
  'open-ttl': { type: 'string' },
  'min-free': { type: 'string' },
  'audit-every': { type: 'string' },
  grace: { type: 'string' },
  copies: { type: 'string' },
} as const satisfies SettingSpecs;

/** A seed's storage flags, as Seed/startServe options (absent flags keep the seed's defaults). */
function storageOf(values: Parsed['values']) {
  const share = str(values['open-share']);
  const openShare = share === undefined ? undefined : Number(share);
  if (openShare !== undefined && !(openShare > 0 && openShare <= 1))
    throw new UsageError(`bad --open-share: ${share} (a share of the quota, e.g. 0.5)`);
  const ttl = str(values['open-ttl']);
  const openTtlMs = ttl === undefined ? undefined : parseDuration(ttl);
  if (ttl !== undefined && openTtlMs === undefined)
    throw new UsageError(`bad --open-ttl: ${ttl} (try 30d, 12h or 90m)`);
  const minFree = str(values['min-free']);
  const auditEvery = str(values['audit-every']);
  const auditIntervalMs = auditEvery === undefined ? undefined : parseDuration(auditEvery);
  if (auditEvery !== undefined && auditIntervalMs === undefined)
    throw new UsageError(`bad --audit-every: ${auditEvery} (try 6h, 30m or 2s)`);
  const grace = str(values.grace);
  const graceMs = grace === undefined ? undefined : parseDuration(grace);
  if (grace !== undefined && graceMs === undefined) throw new UsageError(`bad --grace: ${grace} (try 30m, 2h or 90s)`);
  // Tests only (a slow seed for streaming tests): not a flag, so no user meets it in --help.
  const serveDelay = Number(process.env.MYCEL_TEST_SERVE_DELAY_MS ?? 0);
  // Tests only, likewise: collection's sweep and delay shortened.
  const collectMs = Number(process.env.MYCEL_TEST_COLLECT_MS ?? 0);
  return {
    serveDelayMs: serveDelay > 0 ? serveDelay : undefined,
    collectMs: collectMs > 0 ? collectMs : undefined,
    dataDir: str(values.data) ?? './mycel-data',
    quota: sizeOf(str(values.quota), DEFAULT_QUOTA),
    allow: peerIdsOf('allow', values.allow),
    peerQuota: str(values['peer-quota']) === undefined ? undefined : sizeOf(str(values['peer-quota']), 0),
    openShare,
    openTtlMs,
    minFreeBytes: minFree === undefined ? undefined : minFree.trim() === '0' ? 0 : sizeOf(minFree, 0),
    auditIntervalMs,
    graceMs,
    copies: copiesOf(str(values.copies)),
  };
}

/** `--expire <duration>` as milliseconds from now (undefined: never). */
function expiryOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`bad --expire: ${text} (try 30d, 12h or 90m)`);
  return ms;
}

/** Runs until a signal for long-running commands; resolves to an exit code for the others. */
/** The default bound of get's block cache. */
const DEFAULT_CACHE_QUOTA = 2 * 2 ** 30;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  // `mycel <command> --help` works for every command, whatever else is on the line.
  if (isCommand(command) && rest.some((arg) => arg === '--help' || arg === '-h')) {
    process.stdout.write(commandHelp(command) + '\n');
    return 0;
  }
  switch (command) {
    case 'serve': {
      const values = settings(rest, { ...STORAGE_FLAGS, ...FRONT_FLAGS });
      if (!values) return 0;
      const running = await startServe({
        ...frontOf(values),
        ...reachOf(values),
        ...storageOf(values),
        webRoot: str(values.web),
        port: portOf(str(values.port), 8080),
        host: str(values.host) ?? '0.0.0.0',
        seeds: peerIdsOf('seed', values.seed),
      });
      return untilStopped(() => running.close());
    }
    case 'signal': {
      const values = settings(rest, FRONT_FLAGS);
      if (!values) return 0;
      const running = await startSignal({
        ...frontOf(values),
        ...reachOf(values),
        port: portOf(str(values.port), 8080),
        host: str(values.host) ?? '0.0.0.0',
        webRoot: str(values.web),
        seeds: peerIdsOf('seed', values.seed),
      });
      return untilStopped(() => running.close());
    }
    case 'seed': {
      const values = settings(rest, { signal: { type: 'string' }, metrics: { type: 'string' }, ...STORAGE_FLAGS });
      if (!values) return 0;
      const [signalUrl, ...signalAlternates] = urlsOf(str(values.signal));
      if (!signalUrl) throw new UsageError('seed needs --signal <ws url>, e.g. ws://localhost:8080/signal');
      const metricsAt = listenAddressOf(str(values.metrics));
      const log = createLogger({ fields: { component: 'seed' } });
      const seed = await Seed.start({ signalUrl, signalAlternates, ...storageOf(values), log });
      let metrics: Awaited<ReturnType<typeof serveSeedMetrics>> | undefined;
      try {
        if (metricsAt) metrics = await serveSeedMetrics(seed, metricsAt.host, metricsAt.port, log);
      } catch (error) {
        await seed.close();
        throw new UsageError(`cannot serve --metrics on ${str(values.metrics)}: ${(error as Error).message}`);
      }
      return untilStopped(async () => {
        await metrics?.close();
        await seed.close();
      });
    }
    case 'id': {
      const { values, positionals } = parse(rest, { data: { type: 'string' } });
      if (positionals.length > 0) throw new UsageError('id takes no arguments');
      const identity = await loadNodeIdentity(str(values.data) ?? './mycel-data');
      process.stdout.write(identity.id + '\n');
      return 0;
    }
    case 'repair': {
      const { values, positionals } = parse(rest, { data: { type: 'string' } });
      if (positionals.length > 0) throw new UsageError('repair takes no arguments');
      const report = await repairFsBlockStore(str(values.data) ?? './mycel-data');
      process.stdout.write(JSON.stringify(report) + '\n');
      return 0;
    }
    case 'put': {
      const { values, positionals } = parse(rest, {
        server: { type: 'string' },
        timeout: { type: 'string' },
        identity: { type: 'string' },
        json: { type: 'boolean' },
        expire: { type: 'string' },
        copies: { type: 'string' },
      });
      if (positionals.length === 0) throw new UsageError('put takes a file, a folder or several files');
      return runPut({
        expireMs: expiryOf(str(values.expire)),
        copies: copiesOf(str(values.copies)),
        paths: positionals,
        json: values.json === true,
        servers: urlsOf(str(values.server) ?? 'http://localhost:8080'),
        timeoutMs: secondsOf(str(values.timeout), 30),
        identityDir: str(values.identity),
      });
    }
    case 'renew': {
      const { values, positionals } = parse(rest, {
        server: { type: 'string' },
        timeout: { type: 'string' },
        identity: { type: 'string' },
        expire: { type: 'string' },
      });
      if (positionals.length !== 1) throw new UsageError('renew takes one link');
      const identityDir = str(values.identity);
      if (!identityDir)
        throw new UsageError('renew needs --identity <dir>: seeds keep a file for the peers that renew it');
      return runRenew({
        expireMs: expiryOf(str(values.expire)),
        link: positionals[0]!,
        servers: urlsOf(str(values.server)),
        timeoutMs: secondsOf(str(values.timeout), 30),
        identityDir,
      });
    }
    case 'get': {
      const { values, positionals } = parse(rest, {
        output: { type: 'string', short: 'o' },
        force: { type: 'boolean' },
        cache: { type: 'string' },
        'cache-quota': { type: 'string' },
        timeout: { type: 'string' },
        server: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (positionals.length < 1 || positionals.length > 2)
        throw new UsageError('get takes one link and at most one folder');
      if (positionals.length === 2 && values.output !== undefined)
        throw new UsageError('get takes the target either as -o or after the link, not both');
      return runGet({
        link: positionals[0]!,
        output: str(values.output) ?? positionals[1],
        force: values.force === true,
        cacheDir: str(values.cache),
        cacheQuota: sizeOf(str(values['cache-quota']), DEFAULT_CACHE_QUOTA),
        servers: urlsOf(str(values.server)),
        timeoutMs: secondsOf(str(values.timeout), 30),
        json: values.json === true,
      });
    }
    case 'status': {
      const { values, positionals } = parse(rest, {
        server: { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (positionals.length !== 1) throw new UsageError('status takes one link');
      return runStatus({
        link: positionals[0]!,
        servers: urlsOf(str(values.server)),
        timeoutMs: secondsOf(str(values.timeout), 30),
        json: values.json === true,
      });
    }
    case 'cache': {
      const { values, positionals } = parse(rest, {
        cache: { type: 'string' },
        'cache-quota': { type: 'string' },
        clear: { type: 'boolean' },
      });
      if (positionals.length > 0) throw new UsageError('cache takes no arguments');
      return runCache({
        cacheDir: str(values.cache),
        cacheQuota: sizeOf(str(values['cache-quota']), DEFAULT_CACHE_QUOTA),
        clear: values.clear === true,
      });
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command: ${command}`);
  }
}

function untilStopped(close: () => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    const stop = () => {
      close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

// A failed ledger commit (a full disk) is a storage fault the seed reports and survives, not a
// crash; every other unhandled rejection still ends the process.
process.on('unhandledRejection', (reason) => {
  if (isLedgerCommitFailure(reason)) return;
  throw reason;
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      const command = process.argv[2];
      process.stderr.write(`mycel: ${error.message}\n\n${isCommand(command) ? commandHelp(command) : USAGE}\n`);
      process.exit(2);
    }
    const message = error instanceof MycelError ? error.message : ((error as Error)?.message ?? String(error));
    process.stderr.write(`mycel: ${message}\n`);
    process.exit(1);
  },
);
