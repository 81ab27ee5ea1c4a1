import {
  parseBytes,
  parseCount,
  parseHostPort,
  parsePeerId,
  parseTimeout,
  UsageError,
} from './args.js';

describe('btctl argument parsers', () => {
  it('validate host:port and name the flag', () => {
    expect(parseHostPort('localhost:6000', '--node')).toBe('localhost:6000');
    expect(parseHostPort('[::1]:6000', '--node')).toBe('[::1]:6000');
    for (const bad of ['localhost', 'host:0', 'host:70000', 'a b:1', ':1']) {
      expect(() => parseHostPort(bad, '--node')).toThrow(
        new UsageError(`--node: "${bad}" is not host:port (port 1-65535)`),
      );
    }
  });

  it('parse durations, counts, byte counts and peer ids', () => {
    expect(parseTimeout('3s', '--timeout')).toBe(3000);
    expect(parseTimeout('250ms', '--timeout')).toBe(250);
    expect(parseTimeout('2', '--timeout')).toBe(2000);
    expect(() => parseTimeout('soon', '--timeout')).toThrow(/--timeout/);
    expect(() => parseTimeout('0s', '--timeout')).toThrow(/--timeout/);
    expect(parseCount('50', '--limit', 1000)).toBe(50);
    expect(() => parseCount('-1', '--limit', 1000)).toThrow(/--limit/);
    expect(() => parseCount('1001', '--limit', 1000)).toThrow(/--limit: 1001 is larger than 1000/);
    expect(parseBytes('18446744073709551615', '--left')).toBe(2n ** 64n - 1n);
    expect(() => parseBytes('18446744073709551616', '--left')).toThrow(/--left/);
    expect(parsePeerId('-BT0001-abcdefghijkl', '--peer-id')).toHaveLength(20);
    expect(parsePeerId('ab'.repeat(20), '--peer-id')).toEqual(Buffer.alloc(20, 0xab));
    expect(() => parsePeerId('x'.repeat(21), '--peer-id')).toThrow(/--peer-id/);
  });
});
