/**
 * A scripted BEP 9 peer built from our own codec: it claims the torrent, advertises
 * `ut_metadata` with the real `metadata_size`, and answers every metadata request with
 * the info dictionary's bytes, optionally corrupted (a malicious peer). Counts what it
 * sees so tests can prove a peer was dropped and never dialled again.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
} from '../../agent/torrent/ext-handshake.js';
import {
  METADATA_PIECE_SIZE,
  decodeMetadataMessage,
  encodeMetadataData,
  encodeMetadataRequest,
  metadataPieceLength,
} from '../../agent/torrent/ut-metadata.js';
import { WireParser, encodeExtended, encodeHandshake } from '../../agent/torrent/wire.js';

/** How the peer misbehaves (nothing: an honest metadata server). */
export interface MetadataPeerOptions {
  /** Flip a byte in the middle of the info dictionary it serves. */
  corrupt?: boolean;
  /** Advertise this `metadata_size` and serve this many bytes (of garbage past the real ones). */
  size?: number;
  /** Answer every request with a reject. */
  reject?: boolean;
  /** Send `total_size` off by one in data messages (a protocol violation). */
  badTotalSize?: boolean;
}

/** The id this peer receives ut_metadata on. */
const OUR_ID = 1;

export class MetadataPeer {
  readonly server: net.Server;
  connections = 0;
  /** Metadata pieces requested of us, in order. */
  readonly requests: number[] = [];
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  /** Each scripted peer is a different client (peers are also banned by id). */
  private readonly peerId = randomBytes(20);

  constructor(
    private readonly infoHash: Buffer,
    /** The info dictionary's bytes to serve. */
    private readonly info: Buffer,
    private readonly o: MetadataPeerOptions = {},
  ) {
    this.server = net.createServer((s) => this.onConn(s));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private onConn(s: net.Socket): void {
    this.connections++;
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    const size = this.o.size ?? this.info.length;
    const served = Buffer.alloc(size, 0x61);
    this.info.copy(served, 0, 0, Math.min(size, this.info.length));
    if (this.o.corrupt) served[served.length >> 1]! ^= 0x55;
    let theirId = 0;
    const parser = new WireParser(
      1 << 20,
      (m) => {
        if (m.type !== 'extended') return;
        if (m.id === 0) {
          theirId = decodeExtendedHandshake(m.payload).m.get('ut_metadata') ?? 0;
          return;
        }
        if (m.id !== OUR_ID || theirId === 0) return;
        const msg = decodeMetadataMessage(m.payload);
        if (msg.type !== 'request') return;
        this.requests.push(msg.piece);
        if (this.o.reject) {
          s.write(encodeExtended(theirId, encodeMetadataRequest('reject', msg.piece)));
          return;
        }
        const begin = msg.piece * METADATA_PIECE_SIZE;
        const data = served.subarray(begin, begin + metadataPieceLength(served.length, msg.piece));
        const total = served.length + (this.o.badTotalSize ? 1 : 0);
        s.write(encodeExtended(theirId, encodeMetadataData(msg.piece, total, data)));
      },
      (h) => {
        if (!h.infoHash.equals(this.infoHash)) {
          s.destroy();
          return;
        }
        s.write(encodeHandshake(this.infoHash, this.peerId, { fast: false, extended: true }));
        s.write(
          encodeExtended(
            0,
            encodeExtendedHandshake({ m: { ut_metadata: OUR_ID }, metadataSize: size }),
          ),
        );
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
