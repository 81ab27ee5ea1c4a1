import { canonicalIp, checkAnnounceAddr, type AnnounceTrust } from './announce-addr.js';
import { SourceSet } from './sources.js';

const none: AnnounceTrust = { trustedSource: false, tlsClient: false, allowForeign: false };

describe('checkAnnounceAddr', () => {
  it("accepts the caller's own address, in any textual form", () => {
    expect(checkAnnounceAddr('203.0.113.5', '203.0.113.5:6881', none).ok).toBe(true);
    expect(checkAnnounceAddr('::ffff:203.0.113.5', '203.0.113.5:6881', none).ok).toBe(true);
    expect(checkAnnounceAddr('2001:db8::1', '[2001:DB8:0:0::1]:6881', none).ok).toBe(true);
  });

  it('refuses another host, and names that cannot be verified, with a message', () => {
    const v = checkAnnounceAddr('203.0.113.5', '198.51.100.9:6881', none);
    expect(v).toEqual({
      ok: false,
      reason: 'foreign_addr',
      message: expect.stringMatching(/198\.51\.100\.9.*203\.0\.113\.5/),
    });
    expect(checkAnnounceAddr('203.0.113.5', 'victim.example:6881', none).ok).toBe(false);
    expect(checkAnnounceAddr(undefined, '203.0.113.5:6881', none).ok).toBe(false);
  });

  it('lets trusted callers announce any address', () => {
    for (const t of [
      { ...none, trustedSource: true },
      { ...none, tlsClient: true },
      { ...none, allowForeign: true },
    ]) {
      expect(checkAnnounceAddr('203.0.113.5', 'victim.example:6881', t).ok).toBe(true);
    }
  });
});

describe('SourceSet and canonicalIp', () => {
  it('matches CIDR blocks and bare addresses, IPv4-mapped too', () => {
    const s = SourceSet.parse('127.0.0.1,::1,10.0.0.0/8');
    expect(s.has('127.0.0.1')).toBe(true);
    expect(s.has('::ffff:127.0.0.1')).toBe(true);
    expect(s.has('127.0.0.5')).toBe(false);
    expect(s.has('::1')).toBe(true);
    expect(s.has('10.200.1.1')).toBe(true);
    expect(s.has('11.0.0.1')).toBe(false);
    expect(s.has(undefined)).toBe(false);
    expect(SourceSet.parse('').has('127.0.0.1')).toBe(false);
  });

  it('refuses malformed entries', () => {
    expect(() => SourceSet.parse('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => SourceSet.parse('localhost')).toThrow(/not an IP/);
  });

  it('canonicalises', () => {
    expect(canonicalIp('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalIp('[2001:db8:0:0:0:0:0:1]')).toBe('2001:db8::1');
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1');
  });
});
