// Running the real `mycel` command (the built bin) as separate processes, and waiting on what
// they print, with timeouts rather than sleeps.

import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeGeneratedFile } from './files.js';

export const BIN = path.join(import.meta.dirname, '..', '..', 'bin', 'mycel.js');

export interface MycelProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first stderr/stdout line that `match` accepts. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface StartOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Flags for node itself, before the script (e.g. --import a probe). */
  nodeArgs?: string[];
}

export function startMycel(args: string[], options: StartOptions = {}): MycelProcess {
  return startCommand(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
    cwd: options.cwd,
    env: { ...process.env, MYCEL_LOG: 'info', ...options.env },
  });
}

export interface RunResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end. */
export async function runMycel(
  args: string[],
  options: StartOptions & { timeoutMs?: number } = {},
): Promise<RunResult> {
  const proc = startMycel(args, options);
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stdout: proc.stdout.join('\n'), stderr: proc.stderr.join('\n') };
}

/** A log line (JSON) whose msg is `msg`. */
export function logged(msg: string): (line: string) => boolean {
  return (line) => {
    if (!line.startsWith('{')) return false;
    try {
      return JSON.parse(line).msg === msg;
    } catch {
      return false;
    }
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `mycel-${prefix}-`));
}

/** Starts `mycel serve` on a free port and waits until its seed is ready. */
export async function startServe(
  dataDir: string,
  extra: string[] = [],
  options: StartOptions = {},
): Promise<{ proc: MycelProcess; url: string; port: number }> {
  const port = await freePort();
  const proc = startMycel(
    ['serve', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, ...extra],
    options,
  );
  await proc.waitForLine(logged('seed ready'));
  return { proc, url: `http://127.0.0.1:${port}`, port };
}

export interface CommandOptions {
  /** The whole environment of the child (defaults to this process's). */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/**
 * Runs any command as a watched process: lines collected, `waitForLine`, `kill`, `exited`.
 * `startMycel` runs the built `mycel` through it; the network-namespace harness (test/helpers/net/)
 * runs `ip netns exec <ns> …`.
 */
export function startCommand(command: string, args: string[], options: CommandOptions = {}): MycelProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const collect = (into: string[]) => {
    let partial = '';
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        into.push(line);
        for (const watch of watchers) watch(line);
      }
    };
  };
  child.stdout.on('data', collect(stdout));
  child.stderr.on('data', collect(stderr));
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
    // A command that cannot start (ENOENT) never exits: report it as exited all the same.
    child.on('error', (error) => resolve(`spawn error: ${error.message}`));
  });
  const recent = () => `stderr:\n${stderr.slice(-20).join('\n')}\nstdout:\n${stdout.slice(-20).join('\n')}`;
  return {
    child,
    stdout,
    stderr,
    exited,
    waitForLine(match, timeoutMs = 20_000) {
      const seen = [...stderr, ...stdout].find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const finish = (settle: () => void) => {
          if (!watchers.delete(watch)) return;
          clearTimeout(timer);
          settle();
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`${command}: no matching line within ${timeoutMs} ms; ${recent()}`))),
          timeoutMs,
        );
        const watch = (line: string) => {
          if (match(line)) finish(() => resolve(line));
        };
        watchers.add(watch);
        const onExit = (how: unknown) =>
          finish(() => reject(new Error(`${command} exited (${String(how)}) before a matching line; ${recent()}`)));
        exited.then(onExit, onExit);
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The peer id kept in `dataDir` (made if missing), as `mycel id` prints it for an operator. */
export async function seedIdOf(dataDir: string): Promise<string> {
  const result = await runMycel(['id', '--data', dataDir], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`mycel id failed: ${result.stderr}`);
  return result.stdout.trim();
}

export interface ServeHoldingFile {
  readonly dir: string;
  readonly seedData: string;
  readonly serve: { proc: MycelProcess; url: string; port: number };
  readonly signalUrl: string;
  readonly seedPeer: string;
  /** The file put (8 MiB of generated bytes) and its link. */
  readonly file: string;
  readonly link: string;
}

/** `mycel serve` in a fresh folder (`prefix`), holding one 8 MiB file put by `mycel put`. */
export async function startServeHoldingFile(prefix: string, fileSeed: number): Promise<ServeHoldingFile> {
  const dir = await tempDir(prefix);
  const seedData = path.join(dir, 'seed');
  const serve = await startServe(seedData);
  const signalUrl = `ws://127.0.0.1:${serve.port}/signal`;
  const seedPeer = (JSON.parse(await serve.proc.waitForLine(logged('seed ready'))) as { peer: string }).peer;
  const file = path.join(dir, 'honest.bin');
  await writeGeneratedFile(file, 8 * 2 ** 20, fileSeed);
  const put = await runMycel(['put', file, '--server', serve.url]);
  if (put.code !== 0) throw new Error(`mycel put failed: ${put.stderr}`);
  return { dir, seedData, serve, signalUrl, seedPeer, file, link: put.stdout.trim() };
}
