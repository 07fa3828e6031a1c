// A tiny reachability probe the harness runs inside namespaces (through tsx): a server that tells
// each client the address it saw it come from, like STUN does, and clients that print what the
// server saw. Every result is one JSON line on stdout.
//
//   probe.ts serve tcp|udp <host> <port>      prints {"event":"listening"}, then {"event":"peer","from":"ip:port"}
//   probe.ts tcp <host> <port> [local port]   prints {"event":"reply","local":"ip:port","seen":"ip:port"}
//   probe.ts udp <local port> <host:port>…    one socket to each destination in turn; prints
//                                             {"event":"reply","to":"host:port","seen":"ip:port"} each

import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

/** A client gives up on a server that does not answer within this. */
const REPLY_TIMEOUT_MS = 5_000;

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

function fail(message: string): never {
  process.stderr.write(`probe: ${message}\n`);
  process.exit(2);
}

function hostPort(text: string): [string, number] {
  const at = text.lastIndexOf(':');
  const port = Number(text.slice(at + 1));
  if (at < 1 || !Number.isInteger(port)) fail(`not host:port: ${text}`);
  return [text.slice(0, at), port];
}

const [mode, ...rest] = process.argv.slice(2);
if (mode !== 'serve') setTimeout(() => fail('no reply in time'), REPLY_TIMEOUT_MS);

switch (mode) {
  case 'serve': {
    const [proto, host, port] = rest;
    if (proto === 'tcp') {
      const server = createServer((socket) => {
        const from = `${socket.remoteAddress}:${socket.remotePort}`;
        print({ event: 'peer', from });
        socket.end(from);
      });
      server.listen(Number(port), host, () => print({ event: 'listening' }));
    } else if (proto === 'udp') {
      const socket = createSocket('udp4');
      socket.on('message', (_message, remote) => {
        const from = `${remote.address}:${remote.port}`;
        print({ event: 'peer', from });
        socket.send(from, remote.port, remote.address);
      });
      socket.bind(Number(port), host, () => print({ event: 'listening' }));
    } else {
      fail(`serve tcp|udp, not ${proto}`);
    }
    break;
  }
  case 'tcp': {
    const [host, port, localPort] = rest;
    const socket = connect({ host: host!, port: Number(port), localPort: localPort ? Number(localPort) : undefined });
    let seen = '';
    socket.on('data', (chunk: Buffer) => (seen += chunk.toString('utf8')));
    socket.on('end', () => {
      print({ event: 'reply', local: `${socket.localAddress}:${socket.localPort}`, seen });
      process.exit(0);
    });
    socket.on('error', (error) => fail(error.message));
    break;
  }
  case 'udp': {
    const [localPort, ...destinations] = rest;
    const socket = createSocket('udp4');
    let next = 0;
    const sendNext = () => {
      if (next === destinations.length) process.exit(0);
      const [host, port] = hostPort(destinations[next]!);
      socket.send('?', port, host);
    };
    socket.on('message', (message, remote) => {
      const to = destinations[next]!;
      if (`${remote.address}:${remote.port}` !== hostPort(to).join(':')) return;
      print({ event: 'reply', to, seen: message.toString('utf8') });
      next++;
      sendNext();
    });
    socket.bind(Number(localPort), sendNext);
    break;
  }
  default:
    fail(`unknown mode ${mode}`);
}
