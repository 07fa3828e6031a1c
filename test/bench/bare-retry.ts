// A bare channel's run, retried with fresh processes when its connect fails, as our own connects
// are retried (node-datachannel fails a few percent of connects under load): a ceiling that gave up
// on one failed connect would end the whole bench. Used by network.ts and ab-node.ts.

/** Most runs of one bare transfer before its failure ends the bench. */
export const BARE_ATTEMPTS = 3;

export async function withBareRetries<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      console.error(`bare channel attempt ${attempt} failed: ${(error as Error).message}`);
      if (attempt >= BARE_ATTEMPTS) throw error;
    }
  }
}
