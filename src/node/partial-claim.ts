// The claim a `mycel get` takes on the partial file it writes (transfer-commands.ts): a lock file
// beside the partial, made exclusively, naming its owner's pid and host. Without it, a second get
// of the same link to the same target (the command run twice) would write into the same partial
// as the first, and either could rename a mix of both into place. A claim whose owner is gone (a
// get killed with no chance to release it) is taken over, and the partial resumed as usual.

import { promises as fs, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { FileBusyError } from '../errors.js';

/** Tries at taking a claim that keeps being released, or found stale, before giving up. */
const CLAIM_ATTEMPTS = 3;

/** A claim this process holds on a partial file until it releases it. */
export interface PartialClaim {
  /** The lock file that is the claim. */
  readonly lock: string;
  /** Removes the lock file, if it is still this claim's. */
  release(): Promise<void>;
  /** The same, for a process about to exit at once (a second Ctrl-C). */
  releaseSync(): void;
}

interface Owner {
  readonly pid: number;
  readonly host: string;
}

/** The lock file that claims `partial`. */
export function claimPath(partial: string): string {
  return `${partial}.lock`;
}

/**
 * Claims `partial` for this process. `target` is the file the partial becomes, named in the error.
 * @throws FileBusyError while another live get (or one on another host, which cannot be checked
 * from here) holds the claim.
 */
export async function claimPartial(partial: string, target: string): Promise<PartialClaim> {
  const lock = claimPath(partial);
  const text = `${JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies Owner)}\n`;
  // A stale claim is removed and the claim tried again; should another get take the stale claim
  // over in between, the next attempt finds its live one and stops.
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    if (await createExclusive(lock, text)) return heldClaim(lock, text);
    const owner = await ownerOf(lock);
    if (owner === null) continue; // released just now: try again
    if (owner !== undefined) {
      if (owner.host !== os.hostname()) {
        throw new FileBusyError(
          target,
          owner.pid,
          owner.host,
          `whether it still runs cannot be told from here; if it does not, remove ${lock}`,
        );
      }
      if (isAlive(owner.pid)) {
        throw new FileBusyError(
          target,
          owner.pid,
          undefined,
          `wait for it to end or stop it (if that process is no get, remove ${lock})`,
        );
      }
    }
    // The owner is gone, or the claim is unreadable (its owner died while making it): take it over.
    // A second get doing the same at the same moment could remove the claim just taken over; that
    // needs two new gets racing over one killed get, and is left open.
    await fs.rm(lock, { force: true });
  }
  throw new FileBusyError(target, undefined, undefined, `its claim ${lock} kept changing; try again`);
}

function heldClaim(lock: string, text: string): PartialClaim {
  return {
    lock,
    async release() {
      const now = await fs.readFile(lock, 'utf8').catch(() => undefined);
      if (now === text) await fs.rm(lock, { force: true });
    },
    releaseSync() {
      try {
        if (readFileSync(lock, 'utf8') === text) rmSync(lock, { force: true });
      } catch {
        // Already gone, or unreadable: nothing of ours to remove.
      }
    },
  };
}

/**
 * Makes `lock` holding `text`, unless it exists. The text is written to a file of this process's
 * own first and linked into place, so a claim is never seen half written; on a file system without
 * hard links, the lock is made with O_EXCL and written after.
 */
async function createExclusive(lock: string, text: string): Promise<boolean> {
  const staged = `${lock}.${process.pid}.tmp`;
  await fs.writeFile(staged, text);
  try {
    await fs.link(staged, lock);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
  } finally {
    await fs.rm(staged, { force: true });
  }
  try {
    await fs.writeFile(lock, text, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** Who holds `lock`: null if there is no lock, undefined if what it holds is not a claim. */
async function ownerOf(lock: string): Promise<Owner | null | undefined> {
  let text: string;
  try {
    text = await fs.readFile(lock, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const { pid, host } = JSON.parse(text) as Partial<Owner>;
    if (typeof pid === 'number' && Number.isSafeInteger(pid) && pid > 0 && typeof host === 'string')
      return { pid, host };
  } catch {
    // Not JSON: not a claim this code made whole.
  }
  return undefined;
}

/** Whether a process `pid` runs on this host: signal 0 checks without sending anything. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user. ESRCH: no such process.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
