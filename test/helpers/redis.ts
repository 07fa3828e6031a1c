// A real redis-server (Debian's) per test file: on a Unix socket in a temporary folder, persistence
// off, so a restart loses everything as a real crash of an in-memory deployment does. Readiness is
// the server answering PING, never a sleep.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** How long a starting server may take to answer PING. */
const READY_TIMEOUT_MS = 10_000;

/**
 * Why these tests cannot run here (undefined when they can). On CI they always run, so a machine
 * without redis-server fails loudly instead of passing on skipped tests.
 */
export function redisUnavailable(): string | undefined {
  if (process.env.CI) return undefined;
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'redis-server is not installed (apt-get install redis-server)';
  }
}

export interface RedisServer {
  /** The Unix socket path, and the same as a `unix://` URL for RedisSignalingState. */
  readonly socket: string;
  readonly url: string;
  /** Kills the server (SIGKILL: nothing saved, like a crash) and starts a fresh, empty one on the same socket. */
  restart(): Promise<void>;
  /** Stops the server without starting another. */
  kill(): Promise<void>;
  /** Starts it again after kill(). */
  start(): Promise<void>;
  /** Sends one command (array of strings) on a fresh connection and returns the raw RESP reply. */
  command(...args: string[]): Promise<string>;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-redis-'));
  const socket = path.join(dir, 'redis.sock');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    await fs.rm(socket, { force: true });
    const proc = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--unixsocket',
        socket,
        '--unixsocketperm',
        '700',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    const output: string[] = [];
    proc.stdout.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    // The server logs this line once its sockets listen; PING then proves it answers.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`redis-server was not ready within ${READY_TIMEOUT_MS} ms:\n${output.join('')}`));
      }, READY_TIMEOUT_MS);
      const check = () => {
        if (!/ready to accept connections/i.test(output.join(''))) return;
        clearTimeout(timer);
        proc.stdout.off('data', check);
        resolve();
      };
      proc.stdout.on('data', check);
      proc.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited at start:\n${output.join('')}`));
      });
    });
    const reply = await send(socket, ['PING']);
    if (reply !== '+PONG\r\n') throw new Error(`redis-server answered PING with ${JSON.stringify(reply)}`);
  };

  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    child = undefined;
  };

  await launch();
  return {
    socket,
    url: `unix://${socket}`,
    restart: async () => {
      await kill();
      await launch();
    },
    kill,
    start: launch,
    command: (...args) => send(socket, args),
    close: async () => {
      await kill();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** One command over a fresh connection: enough for readiness checks and test inspection. */
function send(socket: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let reply = '';
    const request = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
    conn.once('error', reject);
    conn.on('connect', () => conn.write(request));
    conn.on('data', (d) => {
      reply += d.toString();
      if (complete(reply)) {
        conn.end();
        resolve(reply);
      }
    });
  });
}

/** True when `text` holds one whole RESP reply (simple, error, integer, bulk or flat array). */
function complete(text: string): boolean {
  const end = text.indexOf('\r\n');
  if (end < 0) return false;
  const head = text.slice(1, end);
  switch (text[0]) {
    case '+':
    case '-':
    case ':':
      return true;
    case '$': {
      const length = Number(head);
      return length < 0 || text.length >= end + 2 + length + 2;
    }
    case '*': {
      let count = Number(head);
      let at = end + 2;
      while (count-- > 0) {
        const next = text.indexOf('\r\n', at);
        if (next < 0) return false;
        if (text[at] === '$') {
          const length = Number(text.slice(at + 1, next));
          at = next + 2 + (length < 0 ? 0 : length + 2);
          if (text.length < at) return false;
        } else at = next + 2;
      }
      return true;
    }
    default:
      return true;
  }
}
