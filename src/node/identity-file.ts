// A Node peer's long-lived identity on disk: <data>/identity.key holds its Ed25519 secret key (the
// 32-byte RFC 8032 seed) as one line of text, readable and writable by the owner only (0600).
//
// Created atomically on first use: written and synced under a temporary name, then hard-linked to
// its final name, which fails if another process got there first (then theirs is used). A key file
// that others can read is refused, not silently fixed, as ssh does: whoever could read it can act
// as this peer, and the operator should know (and may want a new key).

import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BadInputError } from '../errors.js';
import { fromBase64Url, toBase64Url } from '../content/bytes.js';
import { SECRET_SEED_BYTES, identityFromSecret, newSecret, type PeerIdentity } from '../net/identity.js';

export const IDENTITY_FILE = 'identity.key';
const HEADER = 'mycel-ed25519-secret-v1 ';
/** A key file is one short line; anything longer is not one. */
const MAX_FILE_BYTES = 256;
const OWNER_ONLY = 0o600;
const GROUP_OR_OTHER = 0o077;

/** The identity kept in `dataDir`, created there if missing. @throws BadInputError */
export async function loadNodeIdentity(dataDir: string): Promise<PeerIdentity> {
  const file = path.join(dataDir, IDENTITY_FILE);
  const existing = await readIdentityFile(file);
  if (existing) return existing;
  await fs.mkdir(dataDir, { recursive: true });
  const secret = newSecret();
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await fs.open(temp, 'wx', OWNER_ONLY);
  try {
    await handle.writeFile(`${HEADER}${toBase64Url(secret)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
  await syncDir(dataDir);
  const created = await readIdentityFile(file);
  if (!created) throw new BadInputError(`${file} vanished while it was being created`);
  return created;
}

async function readIdentityFile(file: string): Promise<PeerIdentity | undefined> {
  let handle: fs.FileHandle;
  try {
    // Not through a symbolic link: the key is this folder's own file.
    handle = await fs.open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new BadInputError(`${file} is a symbolic link: a peer's key file must be a plain file`);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new BadInputError(`${file} is not a plain file`);
    if (process.platform !== 'win32' && (stat.mode & GROUP_OR_OTHER) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
      throw new BadInputError(
        `${file} can be read by other users (mode ${mode}); its key lets anyone act as this peer. ` +
          `Run chmod 600 on it (or delete it to make a new peer id) and start again.`,
      );
    }
    if (stat.size > MAX_FILE_BYTES) throw new BadInputError(`${file} is not a Mycel key file`);
    const text = await handle.readFile('utf8');
    const line = text.endsWith('\n') ? text.slice(0, -1) : text;
    const secret = line.startsWith(HEADER) ? fromBase64Url(line.slice(HEADER.length)) : undefined;
    if (!secret || secret.length !== SECRET_SEED_BYTES)
      throw new BadInputError(`${file} is not a Mycel key file (damaged?)`);
    return identityFromSecret(secret);
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // Some file systems cannot sync a directory; the key file itself is synced.
  } finally {
    await handle.close();
  }
}
