export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** Per-peer quota for the benchmarks' seeds: room for a 1 GiB file from a peer the seed does not list. */
export const BENCH_PEER_QUOTA = '16GiB';

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
