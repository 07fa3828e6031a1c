// Several files under one link, in real Chromium against a real `mycel serve`: a folder put from
// the command line opens in the page as its list of entries; one entry downloads byte for byte;
// Download all gives a zip (made by the service worker as it is sent) whose entries are byte-equal,
// read by Debian's unzip and Python's zipfile. Files added in the page several at a time, or as a
// folder, make one link that another browser lists.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runMycel, tempDir } from '../helpers/processes.js';
import { bytesOf, expect, newContext, openApp, test } from './fixtures.js';

const READ_ZIP = `
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(json.dumps({"bad": z.testzip(), "entries": {i.filename: hashlib.sha256(z.read(i)).hexdigest() for i in z.infolist()}}))
`;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('a folder shared as one link lists in the page; one entry and Download all match byte for byte', async ({
  browser,
  server,
}) => {
  const dir = await tempDir('e2e-collection');
  const source = path.join(dir, 'trip');
  const tree: Record<string, Buffer> = {
    'photos/beach.jpg': bytesOf(600_000, 3),
    'photos/été/naïve 日本.txt': Buffer.from('bonjour\n'),
    'notes/empty.txt': Buffer.alloc(0),
    'README.md': Buffer.from('# trip\n'),
  };
  for (const [name, bytes] of Object.entries(tree)) {
    await fs.mkdir(path.dirname(path.join(source, name)), { recursive: true });
    await fs.writeFile(path.join(source, name), bytes);
  }
  await fs.mkdir(path.join(source, 'later'));
  const put = await runMycel(['put', source, '--server', server.url]);
  expect(put.code, put.stderr).toBe(0);
  const link = put.stdout.trim();

  const context = await newContext(browser, server.url);
  const page = await context.newPage();
  await openApp(page);
  await page.goto(link);
  const list = page.getByRole('list', { name: 'Files in' });
  await expect(list.getByRole('listitem')).toHaveCount(5, { timeout: 60_000 });
  await expect(page.getByTestId('collection-count')).toHaveText('4 files');
  await expect(list.getByRole('listitem', { name: 'photos/été/naïve 日本.txt' })).toContainText('8 B');
  await expect(list.getByRole('listitem', { name: 'later' })).toContainText('empty folder');

  const one = page.waitForEvent('download', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Download photos/beach.jpg' }).click();
  const saved = await fs.readFile(await (await one).path());
  expect(sha256(saved)).toBe(sha256(tree['photos/beach.jpg']!));

  const all = page.waitForEvent('download', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Download all' }).click();
  const zip = await all;
  expect(zip.suggestedFilename()).toMatch(/\.zip$/);
  const zipPath = path.join(dir, 'all.zip');
  await zip.saveAs(zipPath);
  execFileSync('unzip', ['-t', zipPath]);
  const read = JSON.parse(execFileSync('python3', ['-c', READ_ZIP, zipPath], { encoding: 'utf8' }));
  expect(read.bad).toBeNull();
  expect(read.entries).toEqual({
    ...Object.fromEntries(Object.entries(tree).map(([name, bytes]) => [name, sha256(bytes)])),
    'later/': sha256(Buffer.alloc(0)),
  });
  await context.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test('several files added at once make one link, and so does a folder; another browser lists them', async ({
  browser,
  server,
}) => {
  const alice = await newContext(browser, server.url);
  const alicePage = await alice.newPage();
  await openApp(alicePage);
  await alicePage.getByLabel('Add files').setInputFiles([
    { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('first\n') },
    { name: 'b.bin', mimeType: 'application/octet-stream', buffer: bytesOf(70_000, 5) },
  ]);
  const links = alicePage.getByRole('textbox', { name: 'Share link' });
  await expect(links).toHaveCount(1);
  await expect(links.first()).toHaveValue(/#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/, { timeout: 60_000 });
  const twoFiles = await links.first().inputValue();

  const dir = await tempDir('e2e-folder-pick');
  await fs.mkdir(path.join(dir, 'album', 'inner'), { recursive: true });
  await fs.writeFile(path.join(dir, 'album', 'one.txt'), 'one\n');
  await fs.writeFile(path.join(dir, 'album', 'inner', 'two.txt'), 'two\n');
  await alicePage.getByLabel('Add a folder').setInputFiles(path.join(dir, 'album'));
  await expect(links).toHaveCount(2);
  await expect(links.first()).toHaveValue(/#[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/, { timeout: 60_000 });
  const folder = await links.first().inputValue();

  const bob = await newContext(browser, server.url);
  const bobPage = await bob.newPage();
  await openApp(bobPage);
  await bobPage.goto(twoFiles);
  const list = bobPage.getByRole('list', { name: 'Files in' });
  await expect(list.getByRole('listitem')).toHaveCount(2, { timeout: 60_000 });
  await expect(list.getByRole('listitem', { name: 'b.bin' })).toContainText('68.4 KiB');
  await bobPage.goto(folder);
  await expect(bobPage.getByRole('heading', { name: 'album' })).toBeVisible({ timeout: 60_000 });
  await expect(list.getByRole('listitem', { name: 'album/inner/two.txt' })).toBeVisible();
  await alice.close();
  await bob.close();
  await fs.rm(dir, { recursive: true, force: true });
});
