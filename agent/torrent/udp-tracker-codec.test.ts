import fc from 'fast-check';
import { TrackerError } from './errors.js';
import {
  ACTION,
  PROTOCOL_ID,
  decodeResponse,
  encodeAnnounce,
  encodeConnect,
  parseUdpTrackerUrl,
} from './udp-tracker-codec.js';

const ih = Buffer.alloc(20, 0xab);
const pid = Buffer.from('-BT0001-123456789012');

describe('BEP 15 codec', () => {
  it('encodes a connect request: magic, action 0, transaction id', () => {
    const b = encodeConnect(0xdeadbeef);
    expect(b.toString('hex')).toBe('0000041727101980' + '00000000' + 'deadbeef');
  });

  it('encodes an announce request at the offsets BEP 15 gives', () => {
    const b = encodeAnnounce({
      connectionId: 0x0102030405060708n,
      transactionId: 7,
      infoHash: ih,
      peerId: pid,
      downloaded: 2 ** 40,
      left: 5,
      uploaded: 6,
      event: 'started',
      key: 0x11223344,
      numwant: -1,
      port: 6881,
    });
    expect(b.length).toBe(98);
    expect(b.readBigUInt64BE(0)).toBe(0x0102030405060708n);
    expect(b.readUInt32BE(8)).toBe(ACTION.announce);
    expect(b.readUInt32BE(12)).toBe(7);
    expect(b.subarray(16, 36)).toEqual(ih);
    expect(b.subarray(36, 56)).toEqual(pid);
    expect(b.readBigUInt64BE(56)).toBe(2n ** 40n);
    expect(b.readBigUInt64BE(64)).toBe(5n);
    expect(b.readBigUInt64BE(72)).toBe(6n);
    expect(b.readUInt32BE(80)).toBe(2); // started
    expect(b.readUInt32BE(84)).toBe(0); // IP: the datagram's source
    expect(b.readUInt32BE(88)).toBe(0x11223344);
    expect(b.readInt32BE(92)).toBe(-1);
    expect(b.readUInt16BE(96)).toBe(6881);
    for (const [event, code] of [
      [undefined, 0],
      ['completed', 1],
      ['stopped', 3],
    ] as const) {
      const e = encodeAnnounce({
        connectionId: 1n,
        transactionId: 1,
        infoHash: ih,
        peerId: pid,
        downloaded: 0,
        left: 0,
        uploaded: 0,
        event,
        key: 0,
        numwant: 50,
        port: 1,
      });
      expect(e.readUInt32BE(80)).toBe(code);
    }
  });

  it('decodes connect, announce (IPv4 and IPv6 peers) and error responses', () => {
    const c = Buffer.alloc(16);
    c.writeUInt32BE(0, 0);
    c.writeUInt32BE(9, 4);
    c.writeBigUInt64BE(0xfeedn, 8);
    expect(decodeResponse(c)).toEqual({
      action: 'connect',
      transactionId: 9,
      connectionId: 0xfeedn,
    });

    const a = Buffer.alloc(20 + 12);
    a.writeUInt32BE(1, 0);
    a.writeUInt32BE(9, 4);
    a.writeUInt32BE(1800, 8);
    a.writeUInt32BE(3, 12);
    a.writeUInt32BE(4, 16);
    Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 127, 0, 0, 2, 0, 80]).copy(a, 20);
    expect(decodeResponse(a)).toEqual({
      action: 'announce',
      transactionId: 9,
      intervalSec: 1800,
      leechers: 3,
      seeders: 4,
      peers: [
        { host: '10.0.0.1', port: 6881 },
        { host: '127.0.0.2', port: 80 },
      ],
    });

    const a6 = Buffer.alloc(20 + 18);
    a6.writeUInt32BE(1, 0);
    a6.writeUInt16BE(0x2001, 20);
    a6.writeUInt16BE(1, 20 + 14);
    a6.writeUInt16BE(51413, 20 + 16);
    expect(decodeResponse(a6, true)).toMatchObject({
      peers: [{ host: '2001:0:0:0:0:0:0:1', port: 51413 }],
    });

    const e = Buffer.concat([
      Buffer.from([0, 0, 0, 3, 0, 0, 0, 9]),
      Buffer.from('torrent not registered'),
    ]);
    expect(decodeResponse(e)).toEqual({
      action: 'error',
      transactionId: 9,
      message: 'torrent not registered',
    });
  });

  it('rejects short, partial and unknown responses with TrackerError', () => {
    expect(() => decodeResponse(Buffer.alloc(7))).toThrow(TrackerError);
    expect(() => decodeResponse(Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 1]))).toThrow(/too short/);
    const partial = Buffer.alloc(20 + 7);
    partial.writeUInt32BE(1, 0);
    expect(() => decodeResponse(partial)).toThrow(/partial peer/);
    const unknown = Buffer.alloc(16);
    unknown.writeUInt32BE(9, 0);
    expect(() => decodeResponse(unknown)).toThrow(/unknown action 9/);
  });

  it('decodes whatever peers an announce response lists (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })), { maxLength: 200 }),
        fc.nat(),
        (peers, interval) => {
          const b = Buffer.alloc(20 + 6 * peers.length);
          b.writeUInt32BE(1, 0);
          b.writeUInt32BE(interval >>> 0, 8);
          peers.forEach(([ip, port], i) => {
            Buffer.from(ip.split('.').map(Number)).copy(b, 20 + 6 * i);
            b.writeUInt16BE(port, 20 + 6 * i + 4);
          });
          const r = decodeResponse(b);
          if (r.action !== 'announce') throw new Error('not an announce');
          expect(r.peers).toEqual(peers.map(([host, port]) => ({ host, port })));
          expect(r.intervalSec).toBe(interval >>> 0);
        },
      ),
    );
  });

  it('the connect magic is BEP 15 protocol id', () => {
    expect(PROTOCOL_ID).toBe(0x41727101980n);
  });

  it('parses udp:// URLs and names what is wrong with others', () => {
    expect(parseUdpTrackerUrl('udp://tracker.example:6969/announce')).toEqual({
      host: 'tracker.example',
      port: 6969,
    });
    expect(parseUdpTrackerUrl('udp://[::1]:6969')).toEqual({ host: '::1', port: 6969 });
    expect(() => parseUdpTrackerUrl('udp://tracker.example/announce')).toThrow(/without a port/);
    expect(() => parseUdpTrackerUrl('http://tracker.example:80/')).toThrow(/not a udp/);
    expect(() => parseUdpTrackerUrl('udp//x')).toThrow(/not a URL/);
  });
});
