// Seeds audit the other holders of the files they hold: real `mycel signal` and `mycel seed`
// processes with `--audit-every 2s`, real data channels, blocks damaged on disk behind a seed's
// back, and hostile holders in this process whose store lies or stalls.
//
// Only the first seed audits often: a seed that audits reads its own copy of the block it
// challenges with, and so notices (and repairs) its own damage; the damaged seeds must not.
// An audit challenges one random block of the file, so a holder missing one of a file's k blocks
// fails each audit with probability 1/k: the tests wait (with a timeout of many intervals) for the
// failed verdict rather than expect it from the first audit.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sealFile } from '../../src/content/seal.js';
import { ephemeralIdentity } from '../../src/net/identity.js';
import { Swarm } from '../../src/net/swarm.js';
import { nodeSocketFactory } from '../../src/node/seed.js';
import { nodeWrtc } from '../../src/node/wrtc.js';
import { AUDIT_DEADLINE_MS } from '../../src/replication/auditor.js';
import { blockPath } from '../../src/store/fs.node.js';
import { createMemoryBlockStore } from '../../src/store/memory.js';
import type { BlockStore } from '../../src/store/block-store.js';
import { pseudoRandomBytes } from '../helpers/data.js';
import {
  freePort,
  logged,
  seedIdOf,
  startMycel,
  startServe,
  tempDir,
  type MycelProcess,
} from '../helpers/processes.js';
import { startUploader } from '../helpers/uploader.js';

const KiB = 1024;
const running: MycelProcess[] = [];
const dirs: string[] = [];
const closers: (() => void)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await Promise.all(running.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(dirs.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
});

function start(args: string[]): MycelProcess {
  // Debug: passed audits are logged at debug level.
  const proc = startMycel(args, { env: { MYCEL_LOG: 'debug' } });
  running.push(proc);
  return proc;
}

/** A small file sealed with a known key: its root and its data blocks' ids, bytes known to the test. */
async function knownFile(seed: number, size = 300 * KiB) {
  const bytes = pseudoRandomBytes(size, seed);
  const fileKey = new Uint8Array(32).fill(seed);
  const blocks = new Map<string, Uint8Array>();
  const sealed = await sealFile([bytes], (block) => void blocks.set(block.id, block.bytes), {
    name: 'file.bin',
    fileKey,
  });
  const dataIds = [...blocks.keys()].filter((id) => id !== sealed.root);
  return { bytes, fileKey, blocks, root: sealed.root, dataIds };
}

const auditLine = (msg: 'audit failed' | 'audit passed', peer: string, root: string) => (line: string) =>
  logged(msg)(line) && JSON.parse(line).peer === peer && JSON.parse(line).root === root.slice(0, 12);

/**
 * Seeds on one signaling server; the first audits every 2 s, the others only every hour: a seed
 * that audits reads its own copy of the block it challenges with, and would notice its own damage.
 */
async function seeds(names: string[]) {
  const dir = await tempDir('audit');
  dirs.push(dir);
  const data = names.map((n) => path.join(dir, n));
  const ids = await Promise.all(data.map((d) => seedIdOf(d)));
  const port = await freePort();
  const signalUrl = `ws://127.0.0.1:${port}/signal`;
  const signal = start([
    'signal',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    ...ids.flatMap((id) => ['--seed', id]),
  ]);
  await signal.waitForLine(logged('listening'));
  const procs = data.map((d, i) =>
    start(['seed', '--signal', signalUrl, '--data', d, '--audit-every', i === 0 ? '2s' : '1h']),
  );
  await Promise.all(procs.map((p) => p.waitForLine(logged('seed ready'))));
  return { signalUrl, data, ids, procs };
}

/** A holder in this process announcing `root`, answering everything from `store`. */
async function holder(signalUrl: string, root: string, store: BlockStore): Promise<Swarm> {
  const swarm = new Swarm({
    identity: ephemeralIdentity(),
    signalUrl,
    createSocket: nodeSocketFactory,
    wrtc: nodeWrtc,
    host: { store },
  });
  closers.push(() => swarm.close());
  swarm.start();
  await swarm.signaling.ready();
  swarm.announce([root]);
  return swarm;
}

describe('seeds auditing the other holders of a file', () => {
  it('fail a seed that silently deleted a block and one that silently corrupted one, and keep passing an honest seed', async () => {
    const { signalUrl, data, ids, procs } = await seeds(['auditor', 'honest', 'deleter', 'corrupter']);
    const [, honest, deleter, corrupter] = ids as [string, string, string, string];
    const up = await startUploader(signalUrl);
    closers.push(() => up.close());
    const file = await knownFile(31);
    const put = await up.put(file.bytes, { fileKey: file.fileKey });
    expect(put.seeds.sort()).toEqual([...ids].sort());
    expect(file.dataIds.length).toBeGreaterThanOrEqual(2);

    // Behind the seeds' backs: nothing reads these blocks before an audit asks for them.
    await fs.rm(blockPath(data[2]!, file.dataIds[0]!));
    const corrupt = blockPath(data[3]!, file.dataIds[1]!);
    const bytes = await fs.readFile(corrupt);
    bytes[100]! ^= 0xff;
    await fs.writeFile(corrupt, bytes);

    const auditor = procs[0]!;
    const deleted = JSON.parse(await auditor.waitForLine(auditLine('audit failed', deleter, file.root), 60_000));
    const corrupted = JSON.parse(await auditor.waitForLine(auditLine('audit failed', corrupter, file.root), 60_000));
    expect(deleted).toMatchObject({ level: 'warn', reason: expect.any(String) });
    expect(corrupted).toMatchObject({ level: 'warn', reason: expect.any(String) });

    // The honest seed passes round after round and never fails.
    await expect
      .poll(() => auditor.stderr.filter(auditLine('audit passed', honest, file.root)).length, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(4);
    expect(auditor.stderr.filter(auditLine('audit failed', honest, file.root))).toEqual([]);
  }, 150_000);

  it('fail a holder that answers with a digest computed without the block, and one that stalls, after the deadline', async () => {
    // The auditor is `mycel serve`'s seed, so its /metrics count the audits.
    const dir = await tempDir('audit-hostile');
    dirs.push(dir);
    const serve = await startServe(path.join(dir, 'data'), ['--audit-every', '2s'], { env: { MYCEL_LOG: 'debug' } });
    running.push(serve.proc);
    const signalUrl = `ws://127.0.0.1:${serve.port}/signal`;
    const up = await startUploader(signalUrl);
    closers.push(() => up.close());
    const file = await knownFile(32);
    await up.put(file.bytes, { fileKey: file.fileKey });

    // The liar keeps no block: asked for one, it makes up bytes (zeros of the right size), so the
    // digest it returns is of bytes it does not hold.
    const liarStore: BlockStore = {
      ...createMemoryBlockStore(),
      get: (id) => Promise.resolve(file.blocks.has(id) ? new Uint8Array(file.blocks.get(id)!.length) : undefined),
    };
    const liar = await holder(signalUrl, file.root, liarStore);
    // The staller never answers: its store never reads.
    const stallerStore: BlockStore = { ...createMemoryBlockStore(), get: () => new Promise(() => undefined) };
    const staller = await holder(signalUrl, file.root, stallerStore);

    const auditor = serve.proc;
    const lied = JSON.parse(await auditor.waitForLine(auditLine('audit failed', liar.peerId, file.root), 30_000));
    expect(lied.reason).toMatch(/wrong digest/);
    const stalled = JSON.parse(
      await auditor.waitForLine(auditLine('audit failed', staller.peerId, file.root), 30_000 + AUDIT_DEADLINE_MS),
    );
    expect(stalled.reason).toMatch(/deadline/);
    const metrics = await (await fetch(`http://127.0.0.1:${serve.port}/metrics`)).text();
    const failed = Number(/^mycel_audits_total\{result="failed"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(failed).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/^mycel_audits_total\{result="passed"\} \d+$/m);
  }, 120_000);
});
