// The infrastructure never sees a file's name, bytes or key: a real signaling server (in this
// process, so every message it receives can be read) and a real seed process are given a file
// whose name and bytes carry a unique marker; neither the seed's data folder nor any message
// contains the marker, the name, the key, or a slice of the plaintext.
import { promises as fs } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { SignalingServer } from '../../signaling/server.js';
import { parseLink } from '../../src/content/share-link.js';
import { createLogger } from '../../src/node/log.js';
import { logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { writeGeneratedFile } from '../helpers/files.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

async function* filesUnder(dir: string): AsyncGenerator<string> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else yield full;
  }
}

it('the seed and the signaling server hold and see only ciphertext', async () => {
  const dir = await tempDir('blind');
  cleanup.push(() => fs.rm(dir, { recursive: true, force: true }));
  const marker = `MYCEL-MARKER-${randomBytes(8).toString('hex')}`;
  const name = `${marker}-quarterly-report.pdf`;
  const file = path.join(dir, name);
  const plaintextStart = new TextEncoder().encode(`${marker} secret contents `.repeat(50));
  await writeGeneratedFile(file, 3 * 1024 * 1024 + 123, 77, plaintextStart);

  const seedData = path.join(dir, 'seed');
  const received: string[] = [];
  const signaling = new SignalingServer({
    log: createLogger({ level: 'warn' }),
    tap: (raw) => received.push(raw),
    seeds: [await seedIdOf(seedData)],
  });
  const http = createServer((req, res) => signaling.handleHttp(req, res) || res.end());
  signaling.attach(http);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as { port: number };
  cleanup.push(async () => {
    await signaling.close();
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  });

  const seed: MycelProcess = startMycel(['seed', '--signal', `ws://127.0.0.1:${port}/signal`, '--data', seedData]);
  cleanup.push(() => seed.kill('SIGKILL'));
  await seed.waitForLine(logged('seed ready'));

  const put = await runMycel(['put', file, '--server', `http://127.0.0.1:${port}`]);
  expect(put.code, put.stderr).toBe(0);
  const link = parseLink(put.stdout.trim());
  await seed.waitForLine(logged('file stored'));

  const keyText = put.stdout.trim().split('.').pop()!;
  const needles = [marker, name, 'quarterly-report', keyText, Buffer.from(link.key).toString('hex')];
  const plainSlice = Buffer.from(plaintextStart.subarray(100, 164));

  let filesChecked = 0;
  let bytesChecked = 0;
  for await (const stored of filesUnder(seedData)) {
    const bytes = await fs.readFile(stored);
    filesChecked++;
    bytesChecked += bytes.length;
    for (const needle of needles) expect(bytes.includes(Buffer.from(needle)), `${needle} in ${stored}`).toBe(false);
    expect(bytes.includes(plainSlice), `plaintext in ${stored}`).toBe(false);
    expect(stored.includes(marker)).toBe(false);
  }
  expect(filesChecked).toBeGreaterThan(12); // 13 data blocks + root + pins + identity key
  expect(bytesChecked).toBeGreaterThan(3 * 1024 * 1024);

  expect(received.length).toBeGreaterThan(5);
  const everything = received.join('\n');
  for (const needle of needles) expect(everything.includes(needle), `${needle} in a signaling message`).toBe(false);
  // What the server does see: the file's root id as a topic.
  expect(everything).toContain(link.root);
}, 60_000);
