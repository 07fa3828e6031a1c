// Real networks on one machine, for integration tests and Playwright specs: a "public internet"
// and private homes behind NAT routers, built from Linux network namespaces inside the test and
// removed after it (also when it fails or its process dies). Needs root and `ip netns`; tests
// skip with one line elsewhere. test/integration/netns-harness.test.ts shows what it can do.
//
// ── Check and build ─────────────────────────────────────────────────────────────────────────────
//   describe.skipIf(!netnsAvailable())('…', () => { … })
//       false (with one "[netns] … skipped: <why>" line on stderr) unless root and namespaces work.
//   const net = await createNetwork({ homes: [{ nat: 'cone' }, { nat: 'symmetric', hosts: 2 }] })
//   afterAll(() => net?.destroy())          // idempotent; returns { namespaces, ms }
//       net.public   { ns, address: '203.0.113.1', addresses: ['203.0.113.1', '203.0.113.2'] }
//       net.home(i)  { index, nat, router: { ns, publicAddress: '203.0.113.(10+i)', lanAddress:
//                      '10.i.0.1' }, host: { ns, address: '10.i.0.2' }, hosts: [...] }   (i from 1)
//       net.dir      the run's temp folder (removed at teardown); net.setupMs
//   cone = MASQUERADE (keeps the source port when it is free: endpoint-independent mapping);
//   symmetric = MASQUERADE --random-fully (a new public port per destination). Both let in only
//   replies from addresses already contacted. The public namespace routes anything it does not
//   know into a sink, so traffic to private addresses vanishes rather than erroring.
//
// ── Run things inside ───────────────────────────────────────────────────────────────────────────
//   net.start(ns, command, args, { env })      → MycelProcess (waitForLine, kill, exited, stdout…)
//   net.startMycel(ns, ['signal', '--host', net.public.address, '--port', '8080'])
//   net.startScript(ns, 'test/helpers/net/probe.ts', args)   a TypeScript script through tsx
//   net.exec(ns, command, args)                → stdout, once it has ended
//   net.execScript(ns, script, args)           the same for a TypeScript script
//   net.onTeardown(fn)                          anything else to undo
//   Everything started here, and anything else left inside the namespaces, is killed at teardown.
//
// ── Helper processes (run with net.startScript) ──────────────────────────────────────────────────
//   probe.ts   TCP/UDP servers that answer with the address they saw; clients that print it.
//   peer.ts    a Node WebRTC peer (the product's SignalClient + PeerLink on node-datachannel) that
//              connects to one other, exchanges bytes, and prints the selected candidate pair.
//   PROBE_SCRIPT / PEER_SCRIPT below are their paths.
//
// ── TURN (coturn) ───────────────────────────────────────────────────────────────────────────────
//   const turn = await startTurn(net)           // in the public namespace, 203.0.113.1:3478
//   turn.stunUrl, turn.turnUrl, turn.secret, turn.realm, turn.log()
//   turn.iceServers(id)   STUN + TURN with REST credentials (the product's nodeWrtc percent-encodes
//       them for node-datachannel; see src/node/wrtc.ts); turnCredentials(secret, id, ttlS)
//
// ── TLS and Chromium ────────────────────────────────────────────────────────────────────────────
//   const certs = await makeTestCertificates(net.dir, { ips: [net.public.address] })
//       certs.cert / certs.key / certs.caCert (PEM), certs.chromiumHome (NSS db trusting the CA),
//       certs.nodeEnv ({ NODE_EXTRA_CA_CERTS }) for Node clients
//   await startTlsProxy(net, net.public.ns, { listen, target, certs })   https/wss in front of http
//   const browser = await chromium.launch(await chromiumInNamespace(net, net.home(1).host.ns,
//       { home: certs.chromiumHome }))     // Chromium runs in the home; Playwright stays outside

import path from 'node:path';

export { netnsAvailable, createNetwork, sweepStaleNamespaces, NETNS_PREFIX, REPO_ROOT } from './netns.js';
export type {
  TestNetwork,
  NatKind,
  HomeSpec,
  NetworkOptions,
  Home,
  Host,
  Router,
  PublicNet,
  TeardownReport,
} from './netns.js';
export { startTurn, turnCredentials, TURN_PORT, TURN_REALM } from './coturn.js';
export type { TurnServer, TurnCredentials } from './coturn.js';
export { makeTestCertificates, startTlsProxy } from './tls.js';
export type { TestCertificates, TlsProxy } from './tls.js';
export { chromiumInNamespace } from './chromium.js';
export type { ChromiumInNamespace } from './chromium.js';
export type { PeerConfig, SelectedCandidate } from './peer.js';

export const PROBE_SCRIPT = path.join(import.meta.dirname, 'probe.ts');
export const PEER_SCRIPT = path.join(import.meta.dirname, 'peer.ts');
