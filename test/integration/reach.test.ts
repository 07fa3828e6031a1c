// Serving Mycel to other machines, on loopback: `mycel serve` with its own TLS certificate (made
// here with openssl, trusted by Node through NODE_EXTRA_CA_CERTS as a private CA would be), a
// public URL that links carry, and ICE servers with TURN credentials handed to every peer.
import { createHmac } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../helpers/net/tls.js';
import {
  freePort,
  logged,
  runMycel,
  startCommand,
  startMycel,
  tempDir,
  type MycelProcess,
} from '../helpers/processes.js';
import { sameFiles, writeGeneratedFile } from '../helpers/files.js';
import { peerIdFor, rawSocket, sayHello } from '../helpers/signal.js';

const TURN_SECRET = 'a shared secret only coturn and mycel know';
const TTL_S = 2 * 60 * 60;

interface Welcome {
  origin?: string;
  iceServers?: { urls: string[]; username?: string; credential?: string }[];
}

describe('mycel serve over TLS, with a public URL and ICE servers', () => {
  let dir: string;
  let certs: TestCertificates;
  let proc: MycelProcess;
  let port: number;
  let publicUrl: string;

  beforeAll(async () => {
    dir = await tempDir('reach');
    certs = await makeTestCertificates(dir, { ips: ['127.0.0.1'], hostnames: ['localhost'] });
    port = await freePort();
    publicUrl = `https://localhost:${port}`;
    const secretFile = path.join(dir, 'turn-secret');
    await fs.writeFile(secretFile, TURN_SECRET + '\n', { mode: 0o600 });
    proc = startMycel([
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data',
      path.join(dir, 'seed'),
      '--tls-cert',
      certs.cert,
      '--tls-key',
      certs.key,
      '--public-url',
      publicUrl,
      '--stun',
      'stun:198.51.100.7:3478',
      '--turn',
      'turn:198.51.100.7:3478?transport=udp',
      '--turn',
      'turns:198.51.100.7:5349?transport=tcp',
      '--turn-secret-file',
      secretFile,
      '--turn-ttl',
      '2h',
    ]);
    await proc.waitForLine(logged('seed ready'));
  });
  afterAll(async () => {
    await proc?.kill();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('says in one plain line where to open it and where links point', async () => {
    // Its own line on stdout (the logs are on stderr, in no fixed order with it).
    const line = await proc.waitForLine((l) => l.startsWith('Mycel is up'));
    expect(line).toBe(
      `Mycel is up: open ${publicUrl}/ in a browser; links will point to ${publicUrl} (listening on https://127.0.0.1:${port})`,
    );
  });

  it('answers https, and /health reports the public URL', async () => {
    const health = await runNode(
      `const r = await fetch('https://127.0.0.1:${port}/health'); console.log(JSON.stringify(await r.json()));`,
      certs.nodeEnv,
    );
    expect(JSON.parse(health).publicUrl).toBe(publicUrl);
  });

  it('puts and gets a file over https and wss, the link carrying the public URL', async () => {
    const file = path.join(dir, 'report.bin');
    await writeGeneratedFile(file, 3 * 1024 * 1024 + 5, 9);
    // The address reached is not the public one: the link still names the public one.
    const put = await runMycel(['put', file, '--server', `https://127.0.0.1:${port}`], { env: certs.nodeEnv });
    expect(put.code, put.stderr).toBe(0);
    const link = put.stdout.trim();
    expect(link.startsWith(`${publicUrl}/#`)).toBe(true);
    const out = path.join(dir, 'report.out');
    const get = await runMycel(['get', link, '-o', out, '--cache', path.join(dir, 'cache'), '--json'], {
      env: certs.nodeEnv,
    });
    expect(get.code, get.stderr).toBe(0);
    expect(await sameFiles(file, out)).toBe(true);
  });

  it('refuses a TLS peer whose certificate Node does not trust (no NODE_EXTRA_CA_CERTS)', async () => {
    const get = await runMycel(['get', `${publicUrl}/#${'A'.repeat(43)}.${'A'.repeat(43)}`, '--timeout', '5'], {
      env: { NODE_EXTRA_CA_CERTS: '' },
    });
    expect(get.code).toBe(1);
    expect(get.stderr).toContain(`could not reach the Mycel server at ${publicUrl}: `);
    expect(get.stderr).toContain('NODE_EXTRA_CA_CERTS');
  });

  it("hands each peer STUN and TURN servers in its welcome, TURN with coturn's REST credentials for its id", async () => {
    const socket = await rawSocket(`wss://127.0.0.1:${port}/signal`, { ca: await fs.readFile(certs.caCert) });
    const before = Math.floor(Date.now() / 1000);
    const welcome = (await sayHello(socket, 'ice-asker')) as Welcome;
    socket.ws.close();
    expect(welcome.origin).toBe(publicUrl);
    const [stun, turn] = welcome.iceServers!;
    expect(stun).toEqual({ urls: ['stun:198.51.100.7:3478'] });
    // URLs as given, ?transport= kept.
    expect(turn!.urls).toEqual(['turn:198.51.100.7:3478?transport=udp', 'turns:198.51.100.7:5349?transport=tcp']);
    const [expiry, id] = turn!.username!.split(':');
    expect(id).toBe(peerIdFor('ice-asker'));
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + TTL_S);
    expect(Number(expiry)).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + TTL_S);
    expect(turn!.credential).toBe(createHmac('sha1', TURN_SECRET).update(turn!.username!).digest('base64'));
  });

  it('never writes the TURN secret to its output', () => {
    expect([...proc.stdout, ...proc.stderr].join('\n')).not.toContain(TURN_SECRET);
  });
});

/** Runs `code` (an ES module body) in a Node child with `env` added; returns its stdout. */
async function runNode(code: string, env: Record<string, string>): Promise<string> {
  const child = startCommand(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, ...env },
  });
  const exit = await child.exited;
  if (exit !== 0) throw new Error(`node exited ${exit}: ${child.stderr.join('\n')}`);
  return child.stdout.join('\n');
}
