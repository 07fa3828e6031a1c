// Two `mycel signal` processes on one real redis-server: a page served by process A downloads a
// file from a seed connected only to process B. Lookup, offer, answer and candidates all cross
// processes through Redis; the bytes come over a real WebRTC data channel in Chromium.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { test as base, expect } from '@playwright/test';
import { download, newContext, openApp } from './fixtures.js';
import { writeGeneratedFile } from '../helpers/files.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';
import { redisUnavailable, startRedis } from '../helpers/redis.js';

const test = base;
const MiB = 1024 * 1024;

// Off CI, a machine without redis-server skips this and says why; CI never skips (.ci/run
// installs redis-server, and redisUnavailable() returns nothing when CI is set).
test.skip(Boolean(redisUnavailable()), redisUnavailable() ?? '');

test('a page on signaling process A gets a file from a seed on process B, bytes equal', async ({ browser }) => {
  const running: MycelProcess[] = [];
  const dir = await tempDir('e2e-redis');
  const redis = await startRedis();
  try {
    const seedData = path.join(dir, 'seed');
    const seedId = await seedIdOf(seedData);
    const start = async () => {
      const port = await freePort();
      const proc = startMycel([
        'signal',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--redis',
        redis.url,
        '--seed',
        seedId,
      ]);
      running.push(proc);
      await proc.waitForLine(logged('listening'));
      // localhost (not 127.0.0.1) is a secure context: service workers and WebCrypto are available.
      return `http://localhost:${port}`;
    };
    const a = await start();
    const b = await start();
    const seed = startMycel(['seed', '--signal', `${b.replace('http', 'ws')}/signal`, '--data', seedData]);
    running.push(seed);
    await seed.waitForLine(logged('seed ready'));

    const file = path.join(dir, 'across.bin');
    await writeGeneratedFile(file, 4 * MiB, 91);
    const put = await runMycel(['put', file, '--server', b]);
    expect(put.code, put.stderr).toBe(0);
    const link = put.stdout.trim();
    expect(link.startsWith(b)).toBe(true);

    const context = await newContext(browser, a);
    const page = await context.newPage();
    await openApp(page);
    const saved = await download(page, a + link.slice(b.length));
    expect(saved.equals(await fs.readFile(file))).toBe(true);
    await context.close();
  } finally {
    await Promise.all(running.map((p) => p.kill('SIGKILL')));
    await redis.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
