/**
 * The Node floor for `bench:download`: the least a Node.js process can do to fetch a
 * torrent from one seeder, so that the bench can say how much of btoverlay's CPU is the
 * runtime's own cost and how much is the engine's.
 *
 * It is a measuring stick, not a client: one connection to one peer, no picker (blocks
 * requested in order), no choking, no resume, no bounds beyond what the seeder is trusted
 * with, no progress output. It does what any downloader must: the BEP 3 handshake,
 * `interested`, requests pipelined 500 deep in batches, 16 KiB blocks copied out of one
 * reused read buffer into a piece buffer, SHA-1 of every piece checked against the
 * metainfo, and each verified piece written at its offset. Single-file torrents only.
 *
 * Usage: node dist/tools/bench/download-floor.js <file.torrent> <out-file> <host:port>
 * Exits 0 once every piece is verified and written; 1 on any error.
 */
import { closeSync, openSync, readFileSync, write } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import net from 'node:net';
import { parseMetainfo } from '../../agent/torrent/metainfo.js';

/** BEP 3: requests are for 16 KiB blocks. */
const BLOCK = 16 * 1024;
/** Outstanding requests; hundreds keep a loopback link busy. */
const DEPTH = 500;
/** Requests go out in batches of at least this many (one write each). */
const BATCH = 32;

interface Piece {
  buf: Buffer;
  got: number;
  hash: Hash;
  hashed: number;
  received: Uint8Array;
}

function main(torrentFile: string, outFile: string, peer: string): void {
  const meta = parseMetainfo(readFileSync(torrentFile));
  const pl = meta.pieceLength;
  const np = meta.pieceCount;
  const sizeOf = (i: number): number => (i === np - 1 ? meta.totalLength - pl * (np - 1) : pl);
  const blocksOf = (i: number): number => Math.ceil(sizeOf(i) / BLOCK);
  const bpp = pl / BLOCK;
  const totalBlocks = Math.ceil(meta.totalLength / BLOCK);
  const fd = openSync(outFile, 'w');
  const pieces = new Map<number, Piece>();
  const spare: Buffer[] = [];
  let next = 0;
  let outstanding = 0;
  let written = 0;
  let unchoked = false;

  const fail = (why: string): never => {
    process.stderr.write(`download-floor: ${why}\n`);
    process.exit(1);
  };
  const request = (s: net.Socket): void => {
    const n = Math.min(DEPTH - outstanding, totalBlocks - next);
    if (n <= 0 || (n < BATCH && outstanding > 0 && next + n < totalBlocks)) return;
    const b = Buffer.allocUnsafe(17 * n);
    for (let k = 0; k < n; k++, next++) {
      const piece = Math.floor(next / bpp);
      const begin = (next % bpp) * BLOCK;
      const o = 17 * k;
      b.writeUInt32BE(13, o);
      b[o + 4] = 6; // request
      b.writeUInt32BE(piece, o + 5);
      b.writeUInt32BE(begin, o + 9);
      b.writeUInt32BE(Math.min(BLOCK, sizeOf(piece) - begin), o + 13);
    }
    outstanding += n;
    s.write(b);
  };
  const onBlock = (index: number, begin: number, src: Buffer, at: number, len: number): void => {
    let p = pieces.get(index);
    if (p === undefined) {
      p = {
        buf: (spare.pop() ?? Buffer.allocUnsafe(pl)).subarray(0, sizeOf(index)),
        got: 0,
        hash: createHash('sha1'),
        hashed: 0,
        received: new Uint8Array(blocksOf(index)),
      };
      pieces.set(index, p);
    }
    src.copy(p.buf, begin, at, at + len);
    p.received[begin / BLOCK] = 1;
    p.got++;
    outstanding--;
    // Hash the in-order prefix as it grows, 64 KiB at a time, as btoverlay does.
    let end = p.hashed;
    while (end < p.received.length && p.received[end] === 1) end++;
    if (end - p.hashed >= 4 || (end === p.received.length && end > p.hashed)) {
      p.hash.update(p.buf.subarray(p.hashed * BLOCK, Math.min(p.buf.length, end * BLOCK)));
      p.hashed = end;
    }
    if (p.got < p.received.length) return;
    pieces.delete(index);
    if (!p.hash.digest().equals(meta.pieces.subarray(index * 20, index * 20 + 20)))
      fail(`piece ${index} failed its hash check`);
    const done = p;
    write(fd, done.buf, 0, done.buf.length, index * pl, (err) => {
      if (err) fail(err.message);
      spare.push(Buffer.from(done.buf.buffer, done.buf.byteOffset, pl));
      if (++written === np) {
        closeSync(fd);
        process.exit(0);
      }
    });
  };

  const [host, port] = [
    peer.slice(0, peer.lastIndexOf(':')),
    Number(peer.slice(peer.lastIndexOf(':') + 1)),
  ];
  let pending: Buffer = Buffer.alloc(0);
  let handshaken = false;
  const readBuffer = Buffer.allocUnsafe(256 * 1024);
  const s = net.connect({
    host,
    port,
    noDelay: true,
    onread: {
      buffer: readBuffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        const fresh = (buf as Buffer).subarray(0, n);
        const data = pending.length > 0 ? Buffer.concat([pending, fresh]) : fresh;
        let o = 0;
        if (!handshaken) {
          if (data.length < 68) {
            pending = Buffer.from(data);
            return true;
          }
          if (!data.subarray(28, 48).equals(meta.infoHash)) fail('handshake for another torrent');
          o = 68;
          handshaken = true;
          s.write(Buffer.from([0, 0, 0, 1, 2])); // interested
        }
        while (data.length - o >= 4) {
          const len = data.readUInt32BE(o);
          if (data.length - o < 4 + len) break;
          if (len > 0) {
            const id = data[o + 4];
            if (id === 7)
              onBlock(data.readUInt32BE(o + 5), data.readUInt32BE(o + 9), data, o + 13, len - 9);
            else if (id === 1) unchoked = true;
            else if (id === 0) fail('choked by the seeder');
          }
          o += 4 + len;
        }
        // The read buffer is reused: keep the partial message by copying it.
        pending = o < data.length ? Buffer.from(data.subarray(o)) : Buffer.alloc(0);
        if (unchoked) request(s);
        return true;
      },
    },
  });
  s.on('connect', () => {
    const hs = Buffer.alloc(68);
    hs[0] = 19;
    hs.write('BitTorrent protocol', 1, 'latin1');
    meta.infoHash.copy(hs, 28);
    hs.write('-FL0001-', 48, 'latin1');
    createHash('sha1').update(String(process.pid)).digest().copy(hs, 56, 0, 12);
    s.write(hs);
  });
  s.on('error', (e) => fail(e.message));
  s.on('close', () => {
    if (written < np) fail('the seeder closed the connection');
  });
}

const [torrentFile, outFile, peer] = process.argv.slice(2);
if (torrentFile === undefined || outFile === undefined || peer === undefined) {
  process.stderr.write('usage: download-floor <file.torrent> <out-file> <host:port>\n');
  process.exit(2);
}
main(torrentFile, outFile, peer);
