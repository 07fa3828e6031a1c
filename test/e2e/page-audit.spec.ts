// The page audits the holders of a file it added, while online (issue 12), on loopback with real
// processes and Debian's Chromium: `mycel serve` listing three standalone seeds, all auditing only
// once an hour and with ten minutes of grace, so neither their own audits nor an absence can start
// a repair within the test. The page audits every 2 s (localStorage `mycel:audit-every`).
// Two of the three seeds holding the file have every block of it flipped on disk behind their backs
// (two: the adding browser's own copy counts too, so with one bad seed the file would still have
// its three live copies and nothing would need repair). The page's audits fail them and the page
// tells the seed still holding the file; it does not take the page's word for it: it audits each
// holder itself at once, its own failed verdicts make those copies stop counting, and the file is
// repaired onto the spare seed, as `mycel status --json` shows.
//
// A damaged seed heals each block it is asked for (its read drops the bad block and it fetches it
// again), so by the time the seed audits a victim, the block the page found bad, and perhaps one or
// two more, are whole again; the page's audits heal it all within about a minute. What this test
// shows therefore depends on the seed acting at once: it checks several distinct blocks on a report
// (SUSPECT_AUDIT_BLOCKS), counts its failed verdict even before its first look at the file's
// holders, and a report it could not act on (a victim withdrawn for a moment) does not hold back
// the next one for a minute. Each of these failed this test now and then.
//
// Without the page's report nothing would notice within the test: a damaged seed heals only blocks
// it reads, and nobody else reads its copy for an hour.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { addFile, bytesOf, expect, newContext, openApp, test } from './fixtures.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';

test.setTimeout(240_000);

const SEED_ARGS = ['--grace', '10m', '--audit-every', '1h'];

interface StatusHolder {
  readonly peer: string;
  readonly kind: 'seed' | 'persisted-browser' | 'browser';
  readonly state: 'live' | 'absent' | 'lost' | 'failed';
}
interface Status {
  readonly target: number;
  readonly live: number;
  readonly holders: StatusHolder[];
}

async function blockFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await fs.readdir(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(full);
    }
  };
  await walk(path.join(dir, 'blocks'));
  return found;
}

test('seeds whose copies rotted fail the page’s audit; the seed it tells confirms it itself and the file is repaired', async ({
  browser,
}) => {
  const dir = await tempDir('e2e-page-audit');
  const procs: MycelProcess[] = [];
  try {
    const dataOf = (name: string) => path.join(dir, name);
    const standalone = ['seed-b', 'seed-c', 'seed-d'];
    const ids = await Promise.all(standalone.map((name) => seedIdOf(dataOf(name))));
    const port = await freePort();
    const serve = startMycel(
      [
        'serve',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--data',
        dataOf('seed-a'),
        '--seed',
        ids.join(','),
        ...SEED_ARGS,
      ],
      { env: { MYCEL_LOG: 'debug' } },
    );
    procs.push(serve);
    const serveSeed = (JSON.parse(await serve.waitForLine(logged('seed ready'))) as { peer: string }).peer;
    const dataByPeer = new Map<string, string>([[serveSeed, dataOf('seed-a')]]);
    const procByPeer = new Map<string, MycelProcess>([[serveSeed, serve]]);
    for (const [i, name] of standalone.entries()) {
      const seed = startMycel(
        ['seed', '--signal', `ws://127.0.0.1:${port}/signal`, '--data', dataOf(name), ...SEED_ARGS],
        {
          env: { MYCEL_LOG: 'debug' },
        },
      );
      procs.push(seed);
      await seed.waitForLine(logged('seed ready'));
      dataByPeer.set(ids[i]!, dataOf(name));
      procByPeer.set(ids[i]!, seed);
    }
    const url = `http://localhost:${port}`;
    const status = async (link: string): Promise<Status> => {
      const result = await runMycel(['status', link, '--json', '--server', url], { timeoutMs: 60_000 });
      if (result.code !== 0) throw new Error(`mycel status failed: ${result.stderr}`);
      return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Status;
    };
    const statusWhen = async (link: string, accept: (s: Status) => boolean): Promise<Status> => {
      let found: Status | undefined;
      await expect
        .poll(
          async () => {
            const latest = await status(link).catch(() => undefined);
            if (latest && accept(latest)) found = latest;
            return found !== undefined;
          },
          { timeout: 120_000 },
        )
        .toBe(true);
      return found!;
    };
    // Seeds holding a live copy (the page that added the file holds one too).
    const live = (s: Status) => s.holders.filter((h) => h.state === 'live' && h.kind === 'seed').map((h) => h.peer);

    const context = await newContext(browser, url);
    await context.addInitScript(() => localStorage.setItem('mycel:audit-every', '2000'));
    const page = await context.newPage();
    await openApp(page);
    // 25 blocks: far more than the few a victim heals before the seed's audit on report.
    const link = await addFile(page, 'audited.bin', bytesOf(6 * 2 ** 20 + 3, 131));

    const placed = await statusWhen(link, (s) => live(s).length === 3);
    expect(placed.target).toBe(3);
    const holders = live(placed);
    const spare = [...dataByPeer.keys()].find((peer) => !holders.includes(peer))!;
    // The victims are standalone seeds when `mycel serve`'s seed holds the file: it answers status.
    const victims = [...holders].sort((a, b) => Number(a === serveSeed) - Number(b === serveSeed)).slice(0, 2);
    const survivor = holders.find((peer) => !victims.includes(peer))!;
    for (const victim of victims) {
      const damaged = await blockFiles(dataByPeer.get(victim)!);
      expect(damaged.length).toBeGreaterThan(20);
      for (const file of damaged) {
        const bytes = await fs.readFile(file);
        bytes[0] = bytes[0]! ^ 0xff;
        await fs.writeFile(file, bytes);
      }
    }

    // The seed still holding the file audits each victim because the page said so; its verdicts count.
    const confirmer = procByPeer.get(survivor)!;
    for (const victim of victims) {
      await confirmer.waitForLine(
        (line) => logged('audit failed')(line) && (JSON.parse(line) as { peer: string }).peer === victim,
        90_000,
      );
    }
    const repaired = await statusWhen(
      link,
      (s) => live(s).length === 2 && live(s).includes(spare) && live(s).includes(survivor),
    );
    for (const victim of victims) expect(repaired.holders.find((h) => h.peer === victim)?.state).toBe('failed');
    const acted = confirmer.stderr
      .filter(logged('auditing a holder on a suspect report'))
      .map((line) => (JSON.parse(line) as { peer: string }).peer);
    expect(new Set(acted)).toEqual(new Set(victims));
    await context.close();
  } finally {
    await Promise.all(procs.map((p) => p.kill()));
    await fs.rm(dir, { recursive: true, force: true });
  }
});
