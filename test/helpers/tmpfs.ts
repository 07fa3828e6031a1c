// Small tmpfs file systems for disk-fault tests: a real kernel file system that can be filled or
// made read-only on demand (root ignores permission bits, so chmod cannot make a folder read-only
// for a root test run; `mount -o remount,ro` can). Needs root and mount(8).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fs, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function mount(args: string[]): void {
  execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why tmpfs cannot be mounted here (undefined if it can): tried once, on a scratch folder. */
export function tmpfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'they mount tmpfs file systems, which needs root';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mycel-tmpfs-probe-'));
  try {
    mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    execFileSync('umount', [dir]);
    return undefined;
  } catch (error) {
    return `mounting tmpfs failed: ${((error as { stderr?: Buffer }).stderr ?? '').toString().trim() || (error as Error).message}`;
  } finally {
    rmdirSync(dir);
  }
}

export function mountTmpfs(dir: string, sizeMiB: number): void {
  mount(['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir]);
}

export function remount(dir: string, mode: 'ro' | 'rw'): void {
  mount(['-o', `remount,${mode}`, dir]);
}

/**
 * Makes `dir` read-only in place by a read-only bind mount over it (undo with unmount). For a
 * folder beside files a process holds open for writing (a database), where remounting the whole
 * file system read-only is refused as busy.
 */
export function bindReadOnly(dir: string): void {
  mount(['--bind', dir, dir]);
  mount(['-o', 'remount,bind,ro', dir]);
}

export function unmount(dir: string): void {
  execFileSync('umount', [dir]);
}

/** Bytes a process may still write on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const stats = await fs.statfs(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}
