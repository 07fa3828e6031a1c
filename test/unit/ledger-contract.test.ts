// The in-memory Ledger against the BlockLedger contract the persistent ledger also runs.
import type { BlockLedger } from '../../src/store/block-ledger.js';
import { Ledger } from '../../src/store/ledger.js';
import { blockLedgerContract } from '../contracts/block-ledger.js';

// ManagedBlockStore can take either: the in-memory Ledger has exactly the BlockLedger shape.
const _shape: BlockLedger = new Ledger();
void _shape;

blockLedgerContract('in-memory', async (quota) => ({ ledger: new Ledger(quota) }));
