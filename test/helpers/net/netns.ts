// Throw-away networks for tests: a "public internet" namespace and private homes behind NAT
// routers, built from Linux network namespaces, veth pairs, bridges and iptables, and torn down
// again — also when the test fails or its process dies. See ./index.ts for the whole API.
//
// Layout (home i is 1-based; names are "<run prefix><suffix>", the prefix unique per run):
//
//   pub   203.0.113.1, .2, …  bridge "inet" joining every router's WAN; default route into a
//         "sink" veth, so packets to unknown (private) addresses are silently dropped instead of
//         failing with "Network is unreachable" (coturn closes a whole allocation on that).
//   nat<i>   router: "wan" 203.0.113.(10+i) on the inet bridge, bridge "lan" 10.i.0.1/24,
//            forwarding on; MASQUERADE out of wan (cone) or MASQUERADE --random-fully
//            (symmetric); forwards new connections only from lan to wan, replies back; drops
//            unsolicited packets to itself from wan.
//   home<i>, home<i>-<j>   hosts: "eth0" 10.i.0.(1+j)/24 on the router's lan, default via the router.
//
// IPv6 is off everywhere: the homes are IPv4-only, as the NAT scenarios assume, and ICE gathers
// no link-local candidates that could pair around the routers.
//
// Cleanup, in three layers so nothing outlives a run:
//   1. `destroy()` (call it in afterAll) kills the processes started here and everything else
//      inside the namespaces, then deletes the namespaces (their veths, bridges and rules go with
//      them) and the run's temp folder.
//   2. A detached watchdog (reaper.sh), started before the first namespace exists, does the same
//      within a second if the test process dies without calling destroy() (crash, SIGKILL).
//   3. `createNetwork` first sweeps namespaces with the harness prefix whose owning pid is dead.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { BIN, startCommand, tempDir, type MycelProcess } from '../processes.js';

/** Every namespace the harness creates starts with this, then "<pid>-<tag>-". */
export const NETNS_PREFIX = 'mycelnet-';
/** Addresses the public namespace holds for servers (203.0.113.1 … .9). */
export const MAX_PUBLIC_ADDRESSES = 9;
export const MAX_HOMES = 50;
export const MAX_HOSTS_PER_HOME = 50;
/** How long a process gets between SIGTERM and SIGKILL at teardown. */
export const KILL_GRACE_MS = 2_000;
/** How long teardown waits for killed processes to leave a namespace before deleting it. */
export const NAMESPACE_DRAIN_MS = 3_000;
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const REAPER = path.join(import.meta.dirname, 'reaper.sh');
const NAME_RE = new RegExp(`^${NETNS_PREFIX}(\\d+)-`);

export type NatKind = 'cone' | 'symmetric';

export interface HomeSpec {
  /** cone: MASQUERADE (keeps the source port when free); symmetric: a random port per destination. */
  readonly nat: NatKind;
  /** Hosts on the home's LAN (default 1). */
  readonly hosts?: number;
}

export interface NetworkOptions {
  readonly homes: readonly HomeSpec[];
  /** Server addresses in the public namespace (default 2: 203.0.113.1 and .2). */
  readonly publicAddresses?: number;
}

export interface PublicNet {
  readonly ns: string;
  /** 203.0.113.1, .2, …: addresses servers in `ns` can listen on. */
  readonly addresses: readonly string[];
  /** The first of `addresses`. */
  readonly address: string;
}

export interface Router {
  readonly ns: string;
  /** The home's address on the public network: what servers see its hosts as. */
  readonly publicAddress: string;
  readonly lanAddress: string;
}

export interface Host {
  readonly ns: string;
  readonly address: string;
}

export interface Home {
  /** 1-based, as in the namespace names and the 10.<index>.0.0/24 LAN. */
  readonly index: number;
  readonly nat: NatKind;
  readonly router: Router;
  readonly hosts: readonly Host[];
  /** The first of `hosts`. */
  readonly host: Host;
}

export interface SupportCheck {
  readonly available: boolean;
  readonly reason?: string;
}

let support: SupportCheck | undefined;

/**
 * Whether this machine can build test networks (root, `ip netns`, iptables, and a namespace can
 * really be created). When it cannot, says why in one line on stderr, once per process. Meant
 * for `describe.skipIf(!netnsAvailable())`.
 */
export function netnsAvailable(): boolean {
  if (!support) {
    support = checkSupport();
    if (!support.available) console.warn(`[netns] network-namespace tests skipped: ${support.reason}`);
  }
  return support.available;
}

function checkSupport(): SupportCheck {
  if (process.platform !== 'linux') return { available: false, reason: 'they need Linux network namespaces' };
  if (process.getuid?.() !== 0) return { available: false, reason: 'they need root (ip netns, iptables)' };
  for (const [command, args] of [
    ['ip', ['netns', 'list']],
    ['iptables-restore', ['--version']],
  ] as const) {
    const result = spawnSync(command, args, { stdio: 'ignore' });
    if (result.error || result.status !== 0) {
      return { available: false, reason: `\`${command} ${args.join(' ')}\` does not work here` };
    }
  }
  // Root in a container without CAP_SYS_ADMIN passes the checks above and still cannot do this.
  const probe = `${NETNS_PREFIX}${process.pid}-probe`;
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (added.status !== 0) return { available: false, reason: `\`ip netns add\` fails: ${added.stderr.trim()}` };
  spawnSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  return { available: true };
}

/** Runs a command to its end; rejects with its stderr when it fails. */
export function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `\`${command} ${args.join(' ')}\` failed (${code}): ${err.trim()}${input ? `\ninput:\n${input}` : ''}`,
          ),
        );
    });
    if (child.stdin) {
      // A command that exits without reading its input must not crash us with EPIPE.
      child.stdin.on('error', () => {
        // See above: its exit status says how it went.
      });
      child.stdin.end(input);
    }
  });
}

async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  // Lines look like "name" or "name (id: 3)".
  return out
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

/** Pids of the processes whose network namespace is `ns`. */
async function pidsIn(ns: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', ns]).catch(() => '');
  return out.split('\n').filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** Kills what runs in each namespace, waits until it has left, and deletes the namespaces. */
async function removeNamespaces(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const deadline = Date.now() + NAMESPACE_DRAIN_MS;
  for (;;) {
    const pids = (await Promise.all(names.map(pidsIn))).flat();
    if (pids.length === 0 || Date.now() > deadline) break;
    for (const pid of pids) killQuietly(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // -force: keep deleting after one fails (e.g. already gone).
  await run('ip', ['-force', '-batch', '-'], names.map((name) => `netns del ${name}\n`).join('')).catch(() => {
    // Some were gone already; -force deleted the rest.
  });
}

/**
 * Deletes namespaces left by harness runs whose process is gone (a crash that also took the
 * watchdog). Namespaces of live runs, and everything not named by the harness, are left alone.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const stale = (await listNamespaces()).filter((name) => {
    const pid = NAME_RE.exec(name)?.[1];
    return pid !== undefined && !alive(Number(pid));
  });
  await removeNamespaces(stale);
  return stale;
}

export interface TeardownReport {
  readonly namespaces: number;
  readonly ms: number;
}

/** A network built for one test run; see ./index.ts. */
export class TestNetwork {
  /** "mycelnet-<pid>-<tag>-": every namespace of this network starts with it. */
  readonly prefix: string;
  /** The run's temp folder (certificates, coturn's files, wrapper scripts); removed at teardown. */
  readonly dir: string;
  readonly public: PublicNet;
  readonly homes: Home[] = [];
  /** Milliseconds `createNetwork` took to build it. */
  setupMs = 0;
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<MycelProcess>();
  private readonly cleanups: Array<() => unknown> = [];
  private reaperPid: number | undefined;
  private teardown: Promise<TeardownReport> | undefined;

  constructor(prefix: string, dir: string, publicAddresses: number) {
    this.prefix = prefix;
    this.dir = dir;
    const addresses = Array.from({ length: publicAddresses }, (_, i) => `203.0.113.${i + 1}`);
    this.public = { ns: `${prefix}pub`, addresses, address: addresses[0]! };
  }

  /** Runs `command` inside `ns` to its end and returns its stdout. */
  exec(ns: string, command: string, args: readonly string[] = [], input?: string): Promise<string> {
    return run('ip', ['netns', 'exec', ns, command, ...args], input);
  }

  /**
   * Starts `command` inside `ns` (through `ip netns exec`, which execs it: the child's pid is the
   * command's). Killed at teardown if still running.
   */
  start(
    ns: string,
    command: string,
    args: readonly string[] = [],
    options: { env?: Record<string, string>; cwd?: string } = {},
  ): MycelProcess {
    this.assertOpen();
    const proc = startCommand('ip', ['netns', 'exec', ns, command, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
    });
    this.processes.add(proc);
    proc.exited.then(
      () => this.processes.delete(proc),
      () => this.processes.delete(proc),
    );
    return proc;
  }

  /** `node bin/mycel.js <args>` inside `ns`, logging at info like `startMycel`. */
  startMycel(ns: string, args: readonly string[], options: { env?: Record<string, string> } = {}): MycelProcess {
    return this.start(ns, process.execPath, [BIN, ...args], { env: { MYCEL_LOG: 'info', ...options.env } });
  }

  /** A TypeScript script (run through tsx) inside `ns`: the harness's probes and peers. */
  startScript(
    ns: string,
    script: string,
    args: readonly string[] = [],
    options: { env?: Record<string, string> } = {},
  ): MycelProcess {
    return this.start(ns, process.execPath, ['--import', 'tsx', script, ...args], options);
  }

  /** A TypeScript script (through tsx) inside `ns`, to its end; returns its stdout. */
  execScript(ns: string, script: string, args: readonly string[] = []): Promise<string> {
    return this.exec(ns, process.execPath, ['--import', 'tsx', script, ...args]);
  }

  /** Something else to undo at teardown (run before the namespaces go, last registered first). */
  onTeardown(cleanup: () => unknown): void {
    this.cleanups.push(cleanup);
  }

  /** The home whose index is `index` (1-based). */
  home(index: number): Home {
    const home = this.homes[index - 1];
    if (!home) throw new Error(`no home ${index} in this network`);
    return home;
  }

  /** Tears everything down; safe to call more than once (later calls wait for the first). */
  destroy(): Promise<TeardownReport> {
    this.teardown ??= this.tearDown();
    return this.teardown;
  }

  private async tearDown(): Promise<TeardownReport> {
    const started = performance.now();
    for (const cleanup of this.cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.warn(`[netns] a teardown step failed: ${(error as Error).message}`);
      }
    }
    await Promise.all(
      [...this.processes].map(async (proc) => {
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), KILL_GRACE_MS);
        await proc.kill('SIGTERM');
        clearTimeout(timer);
      }),
    );
    await removeNamespaces(this.namespaces);
    await fs.rm(this.dir, { recursive: true, force: true });
    // The watchdog leads its own process group (detached): this ends its `sleep` too.
    if (this.reaperPid !== undefined) killQuietly(-this.reaperPid, 'SIGTERM');
    return { namespaces: this.namespaces.length, ms: Math.round(performance.now() - started) };
  }

  private assertOpen(): void {
    if (this.teardown) throw new Error('this test network has been torn down');
  }

  /** @internal Starts the watchdog; called before any namespace exists. */
  startReaper(): void {
    const reaper = spawn('sh', [REAPER, String(process.pid), this.prefix, this.dir], {
      detached: true,
      stdio: 'ignore',
    });
    reaper.unref();
    this.reaperPid = reaper.pid;
  }

  /** @internal Creates namespaces, recording each before it exists so teardown covers it. */
  async addNamespaces(names: readonly string[]): Promise<void> {
    this.namespaces.push(...names);
    await run('ip', ['-batch', '-'], names.map((name) => `netns add ${name}\n`).join(''));
  }
}

/** Runs `ip` commands (one per line, without the leading "ip") inside `ns`. */
function ipBatch(ns: string, lines: readonly string[]): Promise<string> {
  return run('ip', ['-n', ns, '-batch', '-'], lines.map((line) => `${line}\n`).join(''));
}

/** Per-namespace kernel settings. */
function sysctl(ns: string, settings: Record<string, number>): Promise<string> {
  const pairs = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
  return run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...pairs]);
}

/** The sink's link (TEST-NET-2, never a destination): a gateway that swallows what it is sent. */
const SINK_ADDRESS = '198.51.100.1';
const SINK_GATEWAY = '198.51.100.2';
const SINK_MAC = '02:00:00:5e:00:01';

const NO_IPV6 = { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 };

function routerRules(nat: NatKind): string {
  return [
    '*nat',
    `-A POSTROUTING -o wan -j MASQUERADE${nat === 'symmetric' ? ' --random-fully' : ''}`,
    'COMMIT',
    '*filter',
    // Unsolicited packets to the router itself are dropped, as home routers do. This matters for
    // hole punching: a peer's check that arrives before our host has sent anything would
    // otherwise be answered with port-unreachable and leave a conntrack entry on that port pair,
    // and MASQUERADE would then move our host's own packets to another port — the punch fails.
    // A dropped packet's conntrack entry is never confirmed, so the port stays free.
    '-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    '-A INPUT -i wan -j DROP',
    ':FORWARD DROP [0:0]',
    '-A FORWARD -i lan -o wan -j ACCEPT',
    '-A FORWARD -i lan -o lan -j ACCEPT',
    '-A FORWARD -i wan -o lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
}

/**
 * Builds a public namespace and one NAT'd home per entry of `options.homes`. On any failure what
 * was built is removed before the error is rethrown.
 */
export async function createNetwork(options: NetworkOptions): Promise<TestNetwork> {
  const publicAddresses = options.publicAddresses ?? 2;
  if (publicAddresses < 1 || publicAddresses > MAX_PUBLIC_ADDRESSES)
    throw new RangeError(`publicAddresses: 1 to ${MAX_PUBLIC_ADDRESSES}`);
  if (options.homes.length > MAX_HOMES) throw new RangeError(`at most ${MAX_HOMES} homes`);
  for (const spec of options.homes) {
    const hosts = spec.hosts ?? 1;
    if (hosts < 1 || hosts > MAX_HOSTS_PER_HOME) throw new RangeError(`hosts per home: 1 to ${MAX_HOSTS_PER_HOME}`);
  }
  const started = performance.now();
  await sweepStaleNamespaces();
  const prefix = `${NETNS_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}-`;
  const net = new TestNetwork(prefix, await tempDir('netns'), publicAddresses);
  net.startReaper();
  try {
    await build(net, options.homes);
  } catch (error) {
    await net.destroy();
    throw error;
  }
  net.setupMs = Math.round(performance.now() - started);
  return net;
}

async function build(net: TestNetwork, specs: readonly HomeSpec[]): Promise<void> {
  const pub = net.public.ns;
  for (const [i, spec] of specs.entries()) {
    const index = i + 1;
    const hosts = Array.from({ length: spec.hosts ?? 1 }, (_, j) => ({
      ns: `${net.prefix}home${index}${j === 0 ? '' : `-${j + 1}`}`,
      address: `10.${index}.0.${j + 2}`,
    }));
    net.homes.push({
      index,
      nat: spec.nat,
      router: {
        ns: `${net.prefix}nat${index}`,
        publicAddress: `203.0.113.${10 + index}`,
        lanAddress: `10.${index}.0.1`,
      },
      hosts,
      host: hosts[0]!,
    });
  }
  const routers = net.homes.map((home) => home.router.ns);
  const hosts = net.homes.flatMap((home) => home.hosts.map((host) => host.ns));
  await net.addNamespaces([pub, ...routers, ...hosts]);

  await Promise.all([
    sysctl(pub, NO_IPV6),
    ...routers.map((ns) => sysctl(ns, { ...NO_IPV6, 'net.ipv4.ip_forward': 1 })),
    ...hosts.map((ns) => sysctl(ns, NO_IPV6)),
  ]);

  await ipBatch(pub, [
    'link set lo up',
    'link add inet type bridge',
    ...net.public.addresses.map((address) => `addr add ${address}/24 dev inet`),
    'link set inet up',
    // No dummy driver in every kernel: a veth whose far end drops what it gets (wrong MAC, no
    // forwarding) makes the sink, with a permanent neighbour so nothing waits on ARP.
    'link add sink type veth peer name sink-end',
    'link set sink-end up',
    `addr add ${SINK_ADDRESS}/30 dev sink`,
    'link set sink up',
    `neigh add ${SINK_GATEWAY} lladdr ${SINK_MAC} dev sink nud permanent`,
    `route add default via ${SINK_GATEWAY} dev sink`,
  ]);

  await Promise.all(
    net.homes.map(async (home) => {
      const { router } = home;
      await ipBatch(router.ns, [
        'link set lo up',
        `link add wan type veth peer name nat${home.index} netns ${pub}`,
        `addr add ${router.publicAddress}/24 dev wan`,
        'link set wan up',
        `route add default via ${net.public.address}`,
        'link add lan type bridge',
        `addr add ${router.lanAddress}/24 dev lan`,
        'link set lan up',
        ...home.hosts.map((host, j) => `link add host${j + 1} type veth peer name eth0 netns ${host.ns}`),
        ...home.hosts.map((_, j) => `link set host${j + 1} master lan up`),
      ]);
      await ipBatch(pub, [`link set nat${home.index} master inet up`]);
      await net.exec(router.ns, 'iptables-restore', [], routerRules(home.nat));
      await Promise.all(
        home.hosts.map((host) =>
          ipBatch(host.ns, [
            'link set lo up',
            `addr add ${host.address}/24 dev eth0`,
            'link set eth0 up',
            `route add default via ${router.lanAddress}`,
          ]),
        ),
      );
    }),
  );
}
