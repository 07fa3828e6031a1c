// The LMDB block ledger on a real disk, against the contract the in-memory Ledger runs.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { LmdbLedger } from '../../src/store/lmdb-ledger.node.js';
import { blockLedgerContract, persistentLedgerContract, type LedgerFactory } from '../contracts/block-ledger.js';

const roots: string[] = [];
const open: LedgerFactory = async (quota) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mycel-ledger-'));
  roots.push(dir);
  let ledger = await LmdbLedger.open({ path: dir, quota });
  return {
    ledger,
    reopen: async () => {
      await ledger.close();
      ledger = await LmdbLedger.open({ path: dir, quota });
      return ledger;
    },
  };
};
afterAll(async () => {
  await Promise.all(roots.map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

blockLedgerContract('LMDB', open);
persistentLedgerContract('LMDB', open);
