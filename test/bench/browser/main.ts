// The bench page: exposes the isomorphic benchmarks to Playwright's page.evaluate.
import { openPair, sealPair } from '../pipeline.js';

declare global {
  interface Window {
    mycelBench: { sealPair: typeof sealPair; openPair: typeof openPair; ready: true };
  }
}

window.mycelBench = { sealPair, openPair, ready: true };
