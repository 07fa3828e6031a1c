import { libraryContract } from '../contracts/library.js';
import { MemoryLibrary } from '../../src/store/library.js';

libraryContract('in-memory', async () => ({ library: new MemoryLibrary() }));
