import net, { type Socket } from 'node:net';
import { encodeHandshake } from '../torrent/wire.js';
import { PeerListener } from './peer-listener.js';

const known = Buffer.alloc(20, 0xaa);

async function withListener(
  fn: (
    port: number,
    routed: { head: Buffer; socket: Socket }[],
    rejects: string[],
  ) => Promise<void>,
): Promise<void> {
  const routed: { head: Buffer; socket: Socket }[] = [];
  const rejects: string[] = [];
  const l = new PeerListener({
    host: '127.0.0.1',
    port: 0,
    handshakeTimeoutMs: 300,
    route: (ih, socket, head) => {
      if (!ih.equals(known)) return false;
      routed.push({ head, socket });
      return true;
    },
    onReject: (r) => rejects.push(r),
  });
  const port = await l.listen();
  try {
    await fn(port, routed, rejects);
  } finally {
    for (const r of routed) r.socket.destroy();
    l.close();
  }
}

/** Connects, writes `chunks` with small pauses, resolves when the server closes or after 1 s. */
function send(port: number, chunks: Buffer[]): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, async () => {
      for (const c of chunks) {
        s.write(c);
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve('closed'));
    setTimeout(() => {
      s.destroy();
      resolve('open');
    }, 1000);
  });
}

describe('PeerListener', () => {
  it('hands a handshake split over several writes to its torrent with every byte read', async () => {
    await withListener(async (port, routed) => {
      const hs = encodeHandshake(known, Buffer.alloc(20, 1), { fast: true, extended: true });
      const extra = Buffer.from([0, 0, 0, 1, 2]); // interested, right behind the handshake
      const r = send(port, [
        hs.subarray(0, 10),
        hs.subarray(10, 50),
        Buffer.concat([hs.subarray(50), extra]),
      ]);
      await new Promise((res) => setTimeout(res, 300));
      expect(routed).toHaveLength(1);
      expect(routed[0]!.head.subarray(0, 48)).toEqual(hs.subarray(0, 48));
      routed[0]!.socket.destroy();
      expect(await r).toBe('closed');
    });
  });

  it('closes connections that are not BitTorrent, for another torrent, or silent', async () => {
    await withListener(async (port, routed, rejects) => {
      expect(await send(port, [Buffer.from('GET / HTTP/1.1\r\n\r\n')])).toBe('closed');
      const other = encodeHandshake(Buffer.alloc(20, 0xbb), Buffer.alloc(20, 1), {
        fast: false,
        extended: false,
      });
      expect(await send(port, [other])).toBe('closed');
      expect(await send(port, [])).toBe('closed'); // handshake timeout (300 ms)
      expect(routed).toEqual([]);
      expect(rejects).toEqual(['not_bittorrent', 'unknown_torrent', 'timeout']);
    });
  });
});
