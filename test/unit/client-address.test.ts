// Which address a connection is counted under: a client must not be able to choose it, and
// behind a trusted proxy every real client must get its own.
import { describe, expect, it } from 'vitest';
import { TrustedProxies, addressKey, clientAddress } from '../../signaling/client-address.js';

const proxies = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);

describe('client address', () => {
  it('ignores X-Forwarded-For when no proxy is trusted', () => {
    expect(clientAddress('203.0.113.7', '198.51.100.1')).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientAddress('203.0.113.7', '198.51.100.1', proxies)).toBe('203.0.113.7');
  });

  it('takes the right-most address that is not a trusted proxy', () => {
    // The client wrote "6.6.6.6" itself; our two proxies appended what they saw.
    expect(clientAddress('127.0.0.1', '6.6.6.6, 198.51.100.1, 10.1.2.3', proxies)).toBe('198.51.100.1');
  });

  it('reads repeated X-Forwarded-For headers as one list', () => {
    expect(clientAddress('127.0.0.1', ['6.6.6.6', '198.51.100.1'], proxies)).toBe('198.51.100.1');
  });

  it('takes the left-most address when every hop is a trusted proxy', () => {
    expect(clientAddress('127.0.0.1', '10.0.0.9, 10.0.0.8', proxies)).toBe('10.0.0.9');
  });

  it("counts a missing or malformed header under the proxy's own address", () => {
    expect(clientAddress('127.0.0.1', undefined, proxies)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '', proxies)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', 'not-an-address', proxies)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '198.51.100.1, 10.0.0.1:8080', proxies)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', Array(40).fill('198.51.100.1').join(','), proxies)).toBe('127.0.0.1');
  });

  it('never looks left of the client, where junk is the client’s own', () => {
    expect(clientAddress('127.0.0.1', 'junk, <script>, 198.51.100.1', proxies)).toBe('198.51.100.1');
  });

  it('treats IPv4-mapped IPv6 as IPv4, for the peer and in the header', () => {
    expect(clientAddress('::ffff:127.0.0.1', '::ffff:198.51.100.1', proxies)).toBe('198.51.100.1');
    expect(clientAddress('::ffff:203.0.113.7', undefined)).toBe('203.0.113.7');
  });

  it('counts IPv6 clients by /64, IPv4 clients by address', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('198.51.100.1')).toBe('198.51.100.1');
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'));
  });

  it('refuses a proxy list entry that is not an address or CIDR range', () => {
    for (const bad of ['localhost', '10.0.0.0/33', '1.2.3.4/8/1', '', 'fd00::/129']) {
      expect(() => new TrustedProxies([bad])).toThrow(RangeError);
    }
  });
});
