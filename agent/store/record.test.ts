import { parseAddr, peerIdString, leftNumber } from './record.js';
import { InvalidAddrError, InvalidArgumentError } from '../errors.js';

describe('parseAddr', () => {
  it.each([
    ['10.0.0.7:6881', '10.0.0.7', 6881],
    ['[::1]:6000', '::1', 6000],
    ['[2001:db8::1]:1', '2001:db8::1', 1],
    ['tasks.btagent:6000', 'tasks.btagent', 6000],
    ['seed_1.example.org.:65535', 'seed_1.example.org.', 65535],
  ])('accepts %s', (addr, host, port) => {
    expect(parseAddr(addr)).toEqual({ host, port });
  });

  it.each([
    '',
    '10.0.0.7',
    ':6881',
    '10.0.0.7:0',
    '10.0.0.7:65536',
    '10.0.0.7:+80',
    '999.1.1.1:80',
    '[::g]:80',
    '::1:80x',
    'a..b:80',
    '-bad-.org:80',
    `${'a'.repeat(64)}.org:80`,
    `${'a.'.repeat(130)}org:80`,
    'host name:80',
  ])('refuses %j with a message naming the field', (addr) => {
    expect(() => parseAddr(addr)).toThrow(InvalidAddrError);
    expect(() => parseAddr(addr)).toThrow(/^provider\.addr: /);
  });
});

describe('peerIdString / leftNumber', () => {
  it('keeps up to 20 raw bytes and refuses more', () => {
    const id = Buffer.from([0, 255, 1, 2]);
    expect(Buffer.from(peerIdString(id), 'latin1')).toEqual(id);
    expect(peerIdString(Buffer.alloc(20, 0x41))).toHaveLength(20);
    expect(() => peerIdString(Buffer.alloc(21))).toThrow(
      /provider\.peer_id: must be at most 20 bytes/,
    );
  });

  it('accepts safe non-negative integers only', () => {
    expect(leftNumber(0n)).toBe(0);
    expect(leftNumber(BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => leftNumber(BigInt(Number.MAX_SAFE_INTEGER) + 1n)).toThrow(InvalidArgumentError);
    expect(() => leftNumber(-1)).toThrow(InvalidArgumentError);
    expect(() => leftNumber(1.5)).toThrow(InvalidArgumentError);
  });
});
