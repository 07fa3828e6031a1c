// The network-namespace harness (test/helpers/net/) on its own: homes behind cone and symmetric
// NATs reach a public network the way real homes do, Node WebRTC peers connect across them
// through STUN and through coturn, Chromium runs inside a home and trusts the test CA, and
// nothing the harness creates outlives a run — also when the run is killed.
// Needs root and `ip netns` (skips with one line otherwise) and a built app (`npm run build`).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from '@playwright/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NETNS_PREFIX,
  PEER_SCRIPT,
  PROBE_SCRIPT,
  REPO_ROOT,
  chromiumInNamespace,
  createNetwork,
  makeTestCertificates,
  netnsAvailable,
  startTlsProxy,
  startTurn,
  type Home,
  type PeerConfig,
  type SelectedCandidate,
  type TestNetwork,
  type TurnServer,
} from '../helpers/net/index.js';
import { run } from '../helpers/net/netns.js';
import { logged, type MycelProcess } from '../helpers/processes.js';

const SIGNAL_PORT = 8080;
const HTTPS_PORT = 443;
const TCP_PROBE_PORT = 7000;
const UDP_PROBE_PORT = 7001;
/** Source ports the clients bind, to see whether the NAT keeps them. */
const TCP_SOURCE_PORT = 40000;
const UDP_SOURCE_PORT = 40001;
const PEER_BYTES = 1024 * 1024;
const WEB_ROOT = path.join(REPO_ROOT, 'dist', 'web');
/** Connect, exchange a MiB, report: generous, as the machine is shared. */
const PEER_TIMEOUT_MS = 40_000;
/** How long the watchdog may take to clean up after a killed run (it looks once a second). */
const REAPER_TIMEOUT_MS = 10_000;
/** How long the page waits for its service worker before reporting none. */
const SERVICE_WORKER_TIMEOUT_MS = 20_000;

/** The first stdout line of `proc` that is JSON with this `event`. */
async function event<T = Record<string, unknown>>(proc: MycelProcess, name: string, timeoutMs?: number): Promise<T> {
  const isEvent = (line: string) => line.startsWith('{') && (JSON.parse(line) as { event?: string }).event === name;
  const { event: _, ...fields } = JSON.parse(await proc.waitForLine(isEvent, timeoutMs)) as { event: string };
  return fields as T;
}

async function harnessNamespaces(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((name) => name.startsWith(NETNS_PREFIX));
}

/** Whether `pid` still runs (a zombie waiting for its reaper does not count). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

interface Connected {
  attempt: number;
  connectMs: number;
  local: SelectedCandidate;
  remote: SelectedCandidate;
}

interface Digest {
  bytes: number;
  sha256: string;
}

// Skipped only where network namespaces cannot be made (not root, no `ip netns`).
describe.skipIf(!netnsAvailable())('test networks in namespaces', () => {
  let net: TestNetwork;
  let turn: TurnServer;
  let signalUrl: string;
  // homes 1 and 2 behind cone NATs, 3 and 4 behind symmetric ones
  let cone: [Home, Home];
  let symmetric: [Home, Home];
  let pairs = 0;

  beforeAll(async () => {
    net = await createNetwork({
      homes: [{ nat: 'cone' }, { nat: 'cone' }, { nat: 'symmetric' }, { nat: 'symmetric' }],
    });
    console.log(`[netns] 1 public + 4 NAT'd homes (9 namespaces) built in ${net.setupMs} ms`);
    cone = [net.home(1), net.home(2)];
    symmetric = [net.home(3), net.home(4)];
    const started = performance.now();
    const signal = net.startMycel(net.public.ns, [
      'signal',
      '--host',
      net.public.address,
      '--port',
      String(SIGNAL_PORT),
      '--web',
      WEB_ROOT,
    ]);
    [turn] = await Promise.all([startTurn(net), signal.waitForLine(logged('listening'))]);
    console.log(
      `[netns] coturn and mycel signal up in the public namespace in ${Math.round(performance.now() - started)} ms`,
    );
    signalUrl = `ws://${net.public.address}:${SIGNAL_PORT}/signal`;
  });

  afterAll(async () => {
    const report = await net?.destroy();
    if (report) console.log(`[netns] torn down (${report.namespaces} namespaces) in ${report.ms} ms`);
  });

  it('lets a host in a cone home reach a public TCP server as its router, keeping the port', async () => {
    const [home] = cone;
    const server = net.startScript(net.public.ns, PROBE_SCRIPT, [
      'serve',
      'tcp',
      net.public.address,
      String(TCP_PROBE_PORT),
    ]);
    await event(server, 'listening');
    const out = await net.execScript(home.host.ns, PROBE_SCRIPT, [
      'tcp',
      net.public.address,
      String(TCP_PROBE_PORT),
      String(TCP_SOURCE_PORT),
    ]);
    const reply = JSON.parse(out) as { local: string; seen: string };
    expect(reply.local).toBe(`${home.host.address}:${TCP_SOURCE_PORT}`);
    expect(reply.seen).toBe(`${home.router.publicAddress}:${TCP_SOURCE_PORT}`);
    expect((await event<{ from: string }>(server, 'peer')).from).toBe(
      `${home.router.publicAddress}:${TCP_SOURCE_PORT}`,
    );
    await server.kill();
  });

  it('gives one source port a new public port per destination behind a symmetric NAT, the same one behind a cone NAT', async () => {
    const [first, second] = net.public.addresses;
    const servers = [first, second].map((address) =>
      net.startScript(net.public.ns, PROBE_SCRIPT, ['serve', 'udp', address!, String(UDP_PROBE_PORT)]),
    );
    await Promise.all(servers.map((server) => event(server, 'listening')));
    const seenFrom = async (home: Home) => {
      const destinations = [`${first}:${UDP_PROBE_PORT}`, `${second}:${UDP_PROBE_PORT}`];
      const out = await net.execScript(home.host.ns, PROBE_SCRIPT, ['udp', String(UDP_SOURCE_PORT), ...destinations]);
      return out
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { seen: string }).seen);
    };
    const [symmetricA, symmetricB] = await seenFrom(symmetric[0]);
    expect(symmetricA!.split(':')[0]).toBe(symmetric[0].router.publicAddress);
    expect(symmetricB!.split(':')[0]).toBe(symmetric[0].router.publicAddress);
    expect(symmetricA!.split(':')[1]).not.toBe(symmetricB!.split(':')[1]);
    const coneSeen = await seenFrom(cone[0]);
    const kept = `${cone[0].router.publicAddress}:${UDP_SOURCE_PORT}`;
    expect(coneSeen).toEqual([kept, kept]);
    await Promise.all(servers.map((server) => server.kill()));
  });

  /** Two peer.ts processes, one per home, through the public `mycel signal`; both sides' reports. */
  async function connectPeers(homes: [Home, Home], iceServers: (id: string) => RTCIceServer[]) {
    pairs++;
    const ids = [`peer-a-${pairs}`, `peer-b-${pairs}`] as const;
    const configs = homes.map((_, i): PeerConfig => ({
      signal: signalUrl,
      id: ids[i]!,
      remote: ids[1 - i]!,
      initiator: i === 0,
      iceServers: iceServers(ids[i]!),
      bytes: PEER_BYTES,
      expectBytes: PEER_BYTES,
    }));
    // The answering side first, so the offer never goes to a peer the server does not know yet.
    const b = net.startScript(homes[1].host.ns, PEER_SCRIPT, [JSON.stringify(configs[1])]);
    await event(b, 'ready');
    const a = net.startScript(homes[0].host.ns, PEER_SCRIPT, [JSON.stringify(configs[0])]);
    const side = async (proc: MycelProcess) => ({
      connected: await event<Connected>(proc, 'connected', PEER_TIMEOUT_MS),
      sent: await event<Digest>(proc, 'sent', PEER_TIMEOUT_MS),
      received: await event<Digest>(proc, 'received', PEER_TIMEOUT_MS),
    });
    try {
      const [sideA, sideB] = await Promise.all([side(a), side(b)]);
      const candidateTypes = (proc: MycelProcess) =>
        proc.stdout
          .filter((line) => line.includes('"candidate"'))
          .map((line) => / typ (\w+)/.exec(line)?.[1])
          .join(',');
      console.log(`[netns]   candidates signalled: A ${candidateTypes(a)}; B ${candidateTypes(b)}`);
      return { a: sideA, b: sideB };
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  }

  const describePair = (c: Connected) =>
    `${c.local.type} ${c.local.ip}:${c.local.port} ↔ ${c.remote.type} ${c.remote.ip}:${c.remote.port}`;

  it('connects two Node peers in two cone homes directly, with only STUN', async () => {
    const { a, b } = await connectPeers(cone, () => [{ urls: turn.stunUrl }]);
    console.log(
      `[netns] cone ↔ cone (STUN): connected in ${a.connected.connectMs} ms (attempt ${a.connected.attempt}); A ${describePair(a.connected)}; B ${describePair(b.connected)}`,
    );
    expect(b.received).toEqual(a.sent);
    expect(a.received).toEqual(b.sent);
    // Straight from one router's public address to the other's: punched through both NATs.
    expect(a.connected.remote.ip).toBe(cone[1].router.publicAddress);
    expect(b.connected.remote.ip).toBe(cone[0].router.publicAddress);
    expect([
      a.connected.local.type,
      a.connected.remote.type,
      b.connected.local.type,
      b.connected.remote.type,
    ]).not.toContain('relay');
  });

  it('connects two Node peers in two symmetric homes through coturn', async () => {
    const { a, b } = await connectPeers(symmetric, (id) => turn.iceServers(id));
    console.log(
      `[netns] symmetric ↔ symmetric (TURN): connected in ${a.connected.connectMs} ms (attempt ${a.connected.attempt}); A ${describePair(a.connected)}; B ${describePair(b.connected)}`,
    );
    expect(b.received).toEqual(a.sent);
    expect(a.received).toEqual(b.sent);
    // Each side's selected pair has the relay on one end.
    for (const side of [a, b]) expect([side.connected.local.type, side.connected.remote.type]).toContain('relay');
    expect(turn.log()).toMatch(/ALLOCATE/);
  });

  describe('Chromium in a home', () => {
    it('opens the app over https at the public address with the test CA trusted, and registers the service worker', async () => {
      expect(existsSync(path.join(WEB_ROOT, 'index.html')), 'the app is built (npm run build)').toBe(true);
      const certs = await makeTestCertificates(net.dir, { ips: [net.public.address] });
      const proxy = await startTlsProxy(net, net.public.ns, {
        listen: { host: net.public.address, port: HTTPS_PORT },
        target: { host: net.public.address, port: SIGNAL_PORT },
        certs,
      });
      const browser = await chromium.launch(
        await chromiumInNamespace(net, cone[0].host.ns, { home: certs.chromiumHome }),
      );
      try {
        const page = await browser.newPage();
        await page.goto(`${proxy.url}/`);
        const state = await page.evaluate(async (timeoutMs) => {
          const registration = await Promise.race([
            navigator.serviceWorker.ready,
            new Promise<undefined>((resolve) => setTimeout(resolve, timeoutMs)),
          ]);
          return { secure: isSecureContext, origin: location.origin, worker: registration?.active?.scriptURL };
        }, SERVICE_WORKER_TIMEOUT_MS);
        expect(state).toEqual({
          secure: true,
          origin: `https://${net.public.address}`,
          worker: `https://${net.public.address}/sw.js`,
        });
      } finally {
        await browser.close();
      }
    });

    it('gathers server-reflexive and relay candidates from coturn behind a symmetric NAT', async () => {
      const browser = await chromium.launch(await chromiumInNamespace(net, symmetric[0].host.ns));
      try {
        const page = await browser.newPage();
        // Any page will do for an RTCPeerConnection; no server needed.
        await page.goto('about:blank');
        const { username, credential } = turn.credentials('chromium');
        const candidates = await page.evaluate(
          async ({ iceServers }) => {
            const pc = new RTCPeerConnection({ iceServers });
            pc.createDataChannel('probe');
            const found: string[] = [];
            const done = new Promise<void>((resolve) => {
              pc.onicecandidate = ({ candidate }) => (candidate ? found.push(candidate.candidate) : resolve());
            });
            await pc.setLocalDescription(await pc.createOffer());
            await done;
            pc.close();
            return found;
          },
          { iceServers: [{ urls: turn.stunUrl }, { urls: turn.turnUrl, username, credential }] },
        );
        console.log(`[netns] Chromium behind a symmetric NAT gathered:\n  ${candidates.join('\n  ')}`);
        const types = candidates.map((candidate) => / typ (\w+)/.exec(candidate)?.[1]);
        expect(types).toContain('srflx');
        expect(types).toContain('relay');
        expect(candidates.find((candidate) => candidate.includes('typ srflx'))).toContain(
          symmetric[0].router.publicAddress,
        );
      } finally {
        await browser.close();
      }
    });
  });
});

// Skipped only where network namespaces cannot be made (not root, no `ip netns`).
describe.skipIf(!netnsAvailable())('test network cleanup', () => {
  it('leaves no namespace or process behind after destroy()', async () => {
    const net = await createNetwork({ homes: [{ nat: 'cone' }] });
    const server = net.startScript(net.public.ns, PROBE_SCRIPT, [
      'serve',
      'tcp',
      net.public.address,
      String(TCP_PROBE_PORT),
    ]);
    await event(server, 'listening');
    const pid = server.child.pid!;
    await net.destroy();
    expect((await harnessNamespaces()).filter((name) => name.startsWith(net.prefix))).toEqual([]);
    expect(alive(pid)).toBe(false);
    expect(existsSync(net.dir)).toBe(false);
  });

  it('cleans up after a test process killed with SIGKILL', async () => {
    // A separate process builds a network, starts a server in it, reports, and is then killed
    // the way a crashed or timed-out runner is: no teardown runs in it.
    const script = [
      `import { createNetwork } from ${JSON.stringify(path.join(REPO_ROOT, 'test/helpers/net/netns.ts'))};`,
      `const net = await createNetwork({ homes: [{ nat: 'symmetric' }] });`,
      `const server = net.start(net.public.ns, 'sleep', ['600']);`,
      `console.log(JSON.stringify({ event: 'built', prefix: net.prefix, dir: net.dir, pid: server.child.pid }));`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const built = await new Promise<{ prefix: string; dir: string; pid: number }>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8'))));
      child.on('exit', (code) => reject(new Error(`the child exited (${code}) before building its network`)));
    });
    expect((await harnessNamespaces()).filter((name) => name.startsWith(built.prefix))).toHaveLength(3);
    child.kill('SIGKILL');
    const deadline = Date.now() + REAPER_TIMEOUT_MS;
    const left = async () =>
      (await harnessNamespaces()).some((name) => name.startsWith(built.prefix)) || existsSync(built.dir);
    while ((await left()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await harnessNamespaces()).filter((name) => name.startsWith(built.prefix))).toEqual([]);
    expect(alive(built.pid)).toBe(false);
    expect(existsSync(built.dir)).toBe(false);
  });
});
