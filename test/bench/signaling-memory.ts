// Run as its own process (--expose-gc) by the bench runner: the heap one announced topic entry
// costs the real SignalingServer. Sockets on loopback say hello, a baseline is taken after full
// GCs, they announce, the heap is measured again, then they leave and it is measured a third time
// (it should return to the baseline). Prints one JSON line.
//
//   node --expose-gc --import tsx test/bench/signaling-memory.ts <mode> <sockets> <topics per socket>
//
// mode: distinct (every topic announced once: one holder each), pairs (every topic by two sockets:
// the costliest layout, a two-holder set per topic), shared (all sockets announce the same topics),
// trusted (one internal socket announcing many topics, as the embedded seed does).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import WebSocket from 'ws';
import { INTERNAL_TOKEN_HEADER, SignalingServer } from '../../signaling/server.js';
import { createLogger } from '../../src/node/log.js';

const [mode = 'distinct', socketsArg = '250', perArg = '1000'] = process.argv.slice(2);
const sockets = Number(socketsArg);
const perSocket = Number(perArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const token = randomBytes(16).toString('hex');
const server = new SignalingServer({
  log: createLogger({ level: 'silent' }),
  internalToken: token,
  // Room for everything this run announces: the figure is the cost of an entry, not the limits.
  limits: {
    maxTopicsPerSocket: perSocket,
    maxTopicsPerAddress: sockets * perSocket,
    maxTopicEntries: sockets * perSocket,
    maxTopicsPerTrustedPeer: perSocket,
    maxSocketsPerAddress: sockets,
  },
});
const http = createServer((req, res) => server.handleHttp(req, res) || res.end());
server.attach(http);
await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/signal`;

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return process.memoryUsage().heapUsed;
}
const until = async (done: () => boolean) => {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 20));
};

const clients: WebSocket[] = [];
for (let i = 0; i < sockets; i++) {
  const headers = mode === 'trusted' ? { [INTERNAL_TOKEN_HEADER]: token } : undefined;
  const ws = new WebSocket(url, { headers });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ t: 'hello', v: 1, peer: `bench-peer-${String(i).padStart(6, '0')}` }));
  await new Promise((resolve) => ws.once('message', resolve));
  clients.push(ws);
}

const before = await settledHeap();
const topics = (n: number) => Array.from({ length: n }, () => randomBytes(32).toString('hex'));
// Generated inside a function so no list outlives the sending (the heap would count it).
const announce = (ws: WebSocket, mine: string[]) => {
  for (let i = 0; i < mine.length; i += 100) ws.send(JSON.stringify({ t: 'announce', topics: mine.slice(i, i + 100) }));
};
(() => {
  const common = mode === 'shared' ? topics(perSocket) : [];
  let pair: string[] = [];
  clients.forEach((ws, i) => {
    if (mode === 'pairs' && i % 2 === 0) pair = topics(perSocket);
    announce(ws, mode === 'shared' ? common : mode === 'pairs' ? pair : topics(perSocket));
  });
})();
const entries = sockets * perSocket;
await until(() => server.stats().topicEntries >= entries);
const distinct = server.stats().topics;
const full = await settledHeap();
for (const ws of clients) ws.close();
await until(() => server.stats().sockets === 0);
const after = await settledHeap();
await server.close();
http.close();
console.log(
  JSON.stringify({
    mode,
    sockets,
    perSocket,
    entries,
    distinct,
    bytesPerEntry: Math.round((full - before) / entries),
    heapBeforeMB: before / 1e6,
    heapFullMB: full / 1e6,
    heapAfterMB: after / 1e6,
  }),
);
