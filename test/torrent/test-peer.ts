/**
 * A scripted seeder built from our own wire codec, for tests that need control a real
 * client does not give: corrupt data (malicious peer), a throttle, and a log of every
 * piece requested.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import net from 'node:net';
import { BLOCK_SIZE } from '../../agent/torrent/layout.js';
import type { Metainfo } from '../../agent/torrent/metainfo.js';
import {
  MSG,
  WireParser,
  encodeBitfield,
  encodeHandshake,
  encodePieceHeader,
  encodeSimple,
} from '../../agent/torrent/wire.js';
import { Bitfield } from '../../agent/torrent/bitfield.js';

export interface TestPeerOptions {
  /** Flip a byte in every block sent. */
  corrupt?: boolean;
  /** Delay before each block is sent (a throttle). */
  blockDelayMs?: number;
}

export class TestPeer {
  readonly server: net.Server;
  /** Every (piece, begin) requested, in order. */
  readonly requests: { piece: number; begin: number }[] = [];
  connections = 0;
  closedByRemote = 0;
  port = 0;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly meta: Metainfo,
    /** Path of the (single-file) content. */
    private readonly file: string,
    private readonly o: TestPeerOptions = {},
  ) {
    this.server = net.createServer((s) => this.onConn(s));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  piecesRequested(): Set<number> {
    return new Set(this.requests.map((r) => r.piece));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private onConn(s: net.Socket): void {
    this.connections++;
    this.sockets.add(s);
    const fd = openSync(this.file, 'r');
    let queue = Promise.resolve();
    let closed = false;
    s.on('close', () => {
      closed = true;
      this.closedByRemote++;
      this.sockets.delete(s);
      closeSync(fd);
    });
    s.on('error', () => undefined);
    const parser = new WireParser(
      1 << 20,
      (m) => {
        if (m.type === 'interested') s.write(encodeSimple(MSG.unchoke));
        if (m.type !== 'request') return;
        this.requests.push({ piece: m.index, begin: m.begin });
        queue = queue.then(async () => {
          if (this.o.blockDelayMs) await new Promise((r) => setTimeout(r, this.o.blockDelayMs));
          if (closed) return;
          const buf = Buffer.alloc(m.length);
          readSync(fd, buf, 0, m.length, m.index * this.meta.pieceLength + m.begin);
          if (this.o.corrupt) buf[0] = buf[0]! ^ 0xff;
          s.write(encodePieceHeader(m.index, m.begin, m.length));
          s.write(buf);
        });
      },
      (h) => {
        s.write(
          encodeHandshake(h.infoHash, Buffer.from('-TP0001-' + 'x'.repeat(12)), {
            fast: false,
            extended: false,
          }),
        );
        const bf = new Bitfield(this.meta.pieceCount);
        bf.setAll();
        s.write(encodeBitfield(bf.buffer));
      },
    );
    s.on('data', (d: Buffer) => {
      try {
        parser.push(d);
      } catch {
        s.destroy();
      }
    });
  }
}

export { BLOCK_SIZE };
