// Issue 12's Must show with browsers, on loopback with real processes and Debian's Chromium: three
// seeds the deployment lists (`mycel serve --seed` names the two standalone ones; its own seed is
// trusted) and two browsers whose people let them keep copies for others.
// - A file put with 3 copies lands on exactly the three seeds. One seed is killed: the page's count
//   follows (3 → 2), and after the grace period (shortened by --grace) repair pushes the file to a
//   browser: 3 again, "2 seeds, 1 browser", as `mycel status --json` says too; a get returns equal bytes.
// - A browser holding a copy has its IndexedDB wiped between two visits (CDP clears IndexedDB alone,
//   as a browser's cleanup can): at start it notices, reports the loss to the seeds, and the copy
//   stops counting at once (the grace period here is ten minutes, far beyond the test's wait), so
//   repair puts the file on another browser.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { addFile, bytesOf, expect, newContext, openApp, test } from './fixtures.js';
import { freePort, logged, runMycel, seedIdOf, startMycel, tempDir, type MycelProcess } from '../helpers/processes.js';

test.setTimeout(240_000);

interface Deployment {
  readonly dir: string;
  /** Where browsers and the command line reach it. */
  readonly url: string;
  readonly serve: MycelProcess;
  /** The standalone seeds, by peer id. */
  readonly seeds: Map<string, MycelProcess>;
  readonly serveSeed: string;
  close(): Promise<void>;
}

/** `mycel serve` listing two standalone seeds (`mycel seed`), all with `--grace grace`. */
async function startDeployment(grace: string): Promise<Deployment> {
  const dir = await tempDir('e2e-durability');
  const dataOf = (name: string) => path.join(dir, name);
  const standalone = ['seed-b', 'seed-c'];
  const ids = await Promise.all(standalone.map((name) => seedIdOf(dataOf(name))));
  const port = await freePort();
  const serve = startMycel([
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--data',
    dataOf('seed-a'),
    '--seed',
    ids.join(','),
    '--grace',
    grace,
  ]);
  const ready = JSON.parse(await serve.waitForLine(logged('seed ready'))) as { peer: string };
  const seeds = new Map<string, MycelProcess>();
  for (const [i, name] of standalone.entries()) {
    const seed = startMycel([
      'seed',
      '--signal',
      `ws://127.0.0.1:${port}/signal`,
      '--data',
      dataOf(name),
      '--grace',
      grace,
    ]);
    await seed.waitForLine(logged('seed ready'));
    seeds.set(ids[i]!, seed);
  }
  return {
    dir,
    url: `http://localhost:${port}`,
    serve,
    seeds,
    serveSeed: ready.peer,
    async close() {
      await Promise.all([...seeds.values()].map((s) => s.kill()));
      await serve.kill();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

interface StatusHolder {
  readonly peer: string;
  readonly kind: 'seed' | 'persisted-browser' | 'browser';
  readonly state: 'live' | 'absent' | 'lost' | 'failed';
}
interface Status {
  readonly target: number;
  readonly live: number;
  readonly byKind: { seed: number; 'persisted-browser': number; browser: number };
  readonly holders: StatusHolder[];
}

async function status(deployment: Deployment, link: string): Promise<Status> {
  const result = await runMycel(['status', link, '--json', '--server', deployment.url], { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`mycel status failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Status;
}

const liveHolders = (s: Status) => s.holders.filter((h) => h.state === 'live');

/**
 * The first status (polled) that `accept` takes. Seeds look a tick apart, so two seeds may briefly
 * disagree; the one that answers status must agree in the end.
 */
async function statusWhen(deployment: Deployment, link: string, accept: (s: Status) => boolean): Promise<Status> {
  let found: Status | undefined;
  await expect
    .poll(
      async () => {
        const latest = await status(deployment, link);
        if (accept(latest)) found = latest;
        return found !== undefined;
      },
      { timeout: 90_000 },
    )
    .toBe(true);
  return found!;
}

/** `mycel put --copies 3`: the file on the seeds (never on a browser); its link. */
async function put(deployment: Deployment, bytes: Buffer): Promise<string> {
  const file = path.join(deployment.dir, 'kept.bin');
  await fs.writeFile(file, bytes);
  const result = await runMycel(['put', file, '--server', deployment.url, '--copies', '3']);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}

/** A browser whose person lets it keep copies for others (the Storage section's checkbox). */
async function keeperBrowser(browser: Browser, url: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser, url);
  const page = await context.newPage();
  await openApp(page);
  const keep = page.getByRole('checkbox', { name: 'Keep copies of files for others' });
  await expect(keep).toBeEnabled();
  await keep.check();
  await expect(keep).toBeChecked();
  return { context, page };
}

/** This page's peer id (the key in its IndexedDB, as its link would name it). */
function peerIdOf(page: Page): Promise<string> {
  return page.evaluate(() => {
    const raw = Object.keys(localStorage).find((k) => k.startsWith('mycel:canary:'));
    return (JSON.parse(localStorage.getItem(raw!)!) as { peer: string }).peer;
  });
}

test('a file put with 3 copies lands on the three seeds, and when one dies a browser takes its copy', async ({
  browser,
}) => {
  const deployment = await startDeployment('6s');
  try {
    const alice = await keeperBrowser(browser, deployment.url);
    const bob = await keeperBrowser(browser, deployment.url);
    const original = bytesOf(3 * 2 ** 20 + 17, 121);
    const link = await put(deployment, original);

    // Exactly three holders, the three seeds.
    const first = await statusWhen(deployment, link, (s) => s.live === 3);
    expect(first.target).toBe(3);
    expect(first.byKind).toEqual({ seed: 3, 'persisted-browser': 0, browser: 0 });
    expect(new Set(liveHolders(first).map((h) => h.peer))).toEqual(
      new Set([deployment.serveSeed, ...deployment.seeds.keys()]),
    );

    await alice.page.goto(link);
    const copies = alice.page.getByTestId('copies');
    await expect(copies).toHaveText(/^3 live copies: 3 seeds/, { timeout: 60_000 });

    // One seed dies: the page shows two, then (after the grace period) three with a browser.
    const [victim, proc] = [...deployment.seeds][0]!;
    await proc.kill('SIGKILL');
    await expect(copies).toHaveText(/^2 live copies: 2 seeds/, { timeout: 60_000 });
    await expect(copies).toHaveText(/^3 live copies: 2 seeds, 1 browser/, { timeout: 90_000 });

    const after = await statusWhen(deployment, link, (s) => s.live === 3 && s.byKind.seed === 2);
    expect(after.byKind.browser + after.byKind['persisted-browser']).toBe(1);
    const browsers = [await peerIdOf(alice.page), await peerIdOf(bob.page)];
    const live = liveHolders(after).map((h) => h.peer);
    expect(live).not.toContain(victim);
    expect(live.filter((p) => browsers.includes(p))).toHaveLength(1);

    // The keeper lists it, without a name, and a get still returns equal bytes.
    const keeper = live.includes(browsers[0]!) ? alice.page : bob.page;
    await keeper.goto('/');
    await expect(keeper.getByTestId('kept-file')).toHaveCount(1);
    const out = path.join(deployment.dir, 'got.bin');
    const got = await runMycel(['get', link, '-o', out]);
    expect(got.code, got.stderr).toBe(0);
    expect((await fs.readFile(out)).equals(original)).toBe(true);
    await Promise.all([alice.context.close(), bob.context.close()]);
  } finally {
    await deployment.close();
  }
});

test('a browser whose IndexedDB was wiped notices at start, reports it, and its copy is repaired at once', async ({
  browser,
}) => {
  // Ten minutes of grace: without the report, the wiped copy would still count for the whole test.
  const deployment = await startDeployment('10m');
  try {
    // One seed stays down: the file put with 3 copies lands on two seeds, and repair puts the
    // third on a browser that keeps copies for others.
    const [, spare] = [...deployment.seeds][0]!;
    await spare.kill();
    const alice = await keeperBrowser(browser, deployment.url);
    const bob = await keeperBrowser(browser, deployment.url);
    const link = await put(deployment, bytesOf(2 * 2 ** 20 + 5, 122));
    const browsers = new Map([
      [await peerIdOf(alice.page), alice],
      [await peerIdOf(bob.page), bob],
    ]);
    // Seeds' views settle a tick apart: wait for a report that names one of the browsers as live.
    const placed = await statusWhen(deployment, link, (s) => liveHolders(s).some((h) => browsers.has(h.peer)));
    const holder = liveHolders(placed).find((h) => browsers.has(h.peer))!;
    const wiped = browsers.get(holder.peer)!;
    await expect(wiped.page.getByTestId('kept-file')).toHaveCount(1);

    // Between two visits, the browser clears this origin's IndexedDB (localStorage stays).
    const blank = await wiped.context.newPage();
    await wiped.page.close();
    const cdp = await wiped.context.newCDPSession(blank);
    await cdp.send('Storage.clearDataForOrigin', {
      origin: new URL(deployment.url).origin,
      storageTypes: 'indexeddb',
    });
    const page = await wiped.context.newPage();
    await openApp(page);
    await expect(page.getByTestId('wipe-notice')).toHaveText(/storage was cleared.*1 file was lost here/s);
    await expect(page.getByTestId('wipe-notice')).toHaveText(/The network was told/);

    // The old copy stops counting at once and repair puts it on a browser again, not the old id.
    const after = await statusWhen(deployment, link, (s) => {
      const browserCopies = liveHolders(s).filter((h) => h.kind !== 'seed');
      return s.live === 3 && browserCopies.length === 1 && browserCopies[0]!.peer !== holder.peer;
    });
    expect(after.holders.find((h) => h.peer === holder.peer)?.state ?? 'lost').not.toBe('live');
    await Promise.all([alice.context.close(), bob.context.close()]);
  } finally {
    await deployment.close();
  }
});

test('a file only browsers hold is shown at risk, and goes to a seed as soon as one is reachable', async ({
  browser,
}) => {
  const dir = await tempDir('e2e-at-risk');
  const seedData = path.join(dir, 'seed');
  const seedId = await seedIdOf(seedData);
  const port = await freePort();
  const signal = startMycel(['signal', '--port', String(port), '--host', '127.0.0.1', '--seed', seedId]);
  let seed: MycelProcess | undefined;
  try {
    await signal.waitForLine(logged('listening'));
    const url = `http://localhost:${port}`;
    const context = await newContext(browser, url);
    const page = await context.newPage();
    await openApp(page);
    const link = await addFile(page, 'alone.bin', bytesOf(500_000, 123));
    await page.goto(link);
    // The open file's own count (My files, on the same page, shows one for the file too).
    const atRisk = page.getByTestId('copies').getByTestId('at-risk');
    await expect(atRisk).toBeVisible({ timeout: 60_000 });
    await expect(page.getByTestId('copies')).toHaveText(/target unknown/);

    // A seed joins: the page pushes the file to it without being asked, and the risk is gone.
    seed = startMycel(['seed', '--signal', `ws://127.0.0.1:${port}/signal`, '--data', seedData]);
    await seed.waitForLine(logged('seed ready'));
    await expect(page.getByTestId('copies')).toHaveText(/^2 live copies: 1 seed, 1 browser/, { timeout: 90_000 });
    await expect(atRisk).toBeHidden();
    await expect(page.getByRole('listitem', { name: 'alone.bin' }).getByTestId('at-risk')).toBeHidden();
    await context.close();
  } finally {
    await seed?.kill();
    await signal.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
