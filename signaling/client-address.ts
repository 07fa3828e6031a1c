// Who is at the other end of a connection, for per-address limits: the TCP peer, or — only when
// that peer is a proxy the operator listed — the client the proxy names in X-Forwarded-For. Also
// the key limits count under: an IPv4 address, or an IPv6 /64 (one subscriber's usual allocation,
// so a client cannot multiply its allowance by rotating through its own prefix).

import { BlockList, isIP } from 'node:net';

/** Entries of X-Forwarded-For looked at, from the right; a longer chain is treated as malformed. */
export const MAX_FORWARDED_HOPS = 16;

/** The proxies an operator trusts to say who their clients are: addresses or CIDR ranges. */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly entries: readonly string[];

  /** Throws a RangeError naming the first entry that is not an address or a CIDR range. */
  constructor(entries: readonly string[]) {
    this.entries = [...entries];
    for (const entry of entries) {
      const [address, prefix, extra] = entry.split('/');
      const family = isIP(address ?? '');
      const bits = prefix === undefined ? undefined : Number(prefix);
      const max = family === 4 ? 32 : 128;
      if (
        !family ||
        extra !== undefined ||
        (bits !== undefined && !(Number.isInteger(bits) && bits >= 0 && bits <= max))
      ) {
        throw new RangeError(`not an IP address or CIDR range: ${entry}`);
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.list.addAddress(address!, type);
      else this.list.addSubnet(address!, bits, type);
    }
  }

  get size(): number {
    return this.entries.length;
  }

  has(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** `a,b , c` as a list, for command-line flags. */
export function parseAddressList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** An IPv4-mapped IPv6 address (how a dual-stack socket shows IPv4 peers) as plain IPv4. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * The address a connection is counted under. `remote` is the TCP peer; `forwarded` the
 * X-Forwarded-For header(s) as Node gives them.
 *
 * Without trusted proxies the header is ignored: any client can write it. Behind trusted proxies,
 * each proxy appends the address it received the request from, so the header is read from the
 * right and the first entry that is not itself a trusted proxy is the client; everything left of
 * it was written by that client and is never looked at. If all entries are trusted proxies the
 * left-most is the client (a proxy calling us on its own behalf).
 *
 * A missing or malformed header (an entry that is not an IP address, or an overlong chain) counts
 * the connection under the proxy's own address. That is deliberately the conservative choice:
 * an entry we cannot parse gives no trustworthy client, and using it verbatim would let a
 * client mint a fresh "address" (and a fresh allowance) per connection; sharing the proxy's
 * allowance keeps the limits in force, at worst too coarse for a misconfigured proxy.
 */
export function clientAddress(
  remote: string | undefined,
  forwarded: string | string[] | undefined,
  proxies?: TrustedProxies,
): string {
  const peer = normalizeAddress(remote ?? 'unknown');
  if (!proxies || proxies.size === 0 || !proxies.has(peer)) return peer;
  const header = Array.isArray(forwarded) ? forwarded.join(',') : forwarded;
  if (!header) return peer;
  const hops = header.split(',');
  if (hops.length > MAX_FORWARDED_HOPS) return peer;
  let leftmost = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!.trim());
    if (!isIP(hop)) return peer;
    if (!proxies.has(hop)) return hop;
    leftmost = hop;
  }
  return leftmost;
}

/** The key per-address limits count under: the IPv4 address, or the IPv6 address's /64 prefix. */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = expandIpv6(address);
  return groups ? `${groups.slice(0, 4).join(':')}::/64` : address;
}

/** Eight 16-bit groups in lower-case hex, without leading zeros; undefined if not IPv6. */
function expandIpv6(address: string): string[] | undefined {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail, extra] = text.split('::');
  if (extra !== undefined) return undefined;
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16).toString(16));
}
