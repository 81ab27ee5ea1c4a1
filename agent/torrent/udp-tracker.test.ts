import dgram from 'node:dgram';
import { TrackerError } from './errors.js';
import type { AnnounceParams } from './peer-source.js';
import { UdpTracker } from './udp-tracker.js';

/**
 * A scripted BEP 15 tracker on a loopback UDP socket: `reply` sees every request and
 * sends what the test wants (or nothing, to make the client retransmit).
 */
async function fakeTracker(
  reply: (req: Buffer, send: (b: Buffer) => void, n: number) => void,
): Promise<{ url: string; close: () => void; socket: dgram.Socket }> {
  const socket = dgram.createSocket('udp4');
  let n = 0;
  socket.on('message', (msg, from) =>
    reply(msg, (b) => socket.send(b, from.port, from.address), n++),
  );
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    url: `udp://127.0.0.1:${socket.address().port}/announce`,
    close: () => socket.close(),
    socket,
  };
}

const connectReply = (req: Buffer, id = 0x77n): Buffer => {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(0, 0);
  req.copy(b, 4, 12, 16); // transaction id
  b.writeBigUInt64BE(id, 8);
  return b;
};
const announceReply = (req: Buffer, peers: [number[], number][]): Buffer => {
  const b = Buffer.alloc(20 + 6 * peers.length);
  b.writeUInt32BE(1, 0);
  req.copy(b, 4, 12, 16);
  b.writeUInt32BE(900, 8);
  peers.forEach(([ip, port], i) => {
    Buffer.from(ip).copy(b, 20 + 6 * i);
    b.writeUInt16BE(port, 24 + 6 * i);
  });
  return b;
};

const params: AnnounceParams = {
  infoHash: Buffer.alloc(20, 1),
  peerId: Buffer.from('-BT0001-000000000000'),
  port: 6881,
  uploaded: 0,
  downloaded: 0,
  left: 100,
  event: 'started',
  numwant: 50,
};

describe('UdpTracker', () => {
  it('connects, announces with the connection id, and returns the peers and interval', async () => {
    const seen: bigint[] = [];
    const t = await fakeTracker((req, send) => {
      const action = req.readUInt32BE(8);
      if (action === 0) send(connectReply(req));
      else {
        seen.push(req.readBigUInt64BE(0));
        send(announceReply(req, [[[10, 0, 0, 7], 51413]]));
      }
    });
    try {
      const udp = new UdpTracker(5000);
      const r = await udp.announce(t.url, params);
      expect(r).toEqual({ peers: [{ host: '10.0.0.7', port: 51413 }], intervalSec: 900 });
      // The connection id is reused within its minute: no second connect.
      await udp.announce(t.url, { ...params, event: undefined });
      expect(seen).toEqual([0x77n, 0x77n]);
    } finally {
      t.close();
    }
  });

  it('retransmits a lost request and ignores replies with another transaction id', async () => {
    const t = await fakeTracker((req, send, n) => {
      if (n === 0) return; // the first connect is lost
      if (req.readUInt32BE(8) === 0) {
        const spoof = connectReply(req, 0x666n);
        spoof.writeUInt32BE((req.readUInt32BE(12) + 1) >>> 0, 4);
        send(spoof); // wrong transaction id: must be ignored
        send(connectReply(req));
      } else send(announceReply(req, []));
    });
    try {
      const started = Date.now();
      const r = await new UdpTracker(5000).announce(t.url, params);
      expect(r.peers).toEqual([]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900); // one retransmission
    } finally {
      t.close();
    }
  });

  it("turns the tracker's error message into a TrackerError", async () => {
    const t = await fakeTracker((req, send) => {
      if (req.readUInt32BE(8) === 0) send(connectReply(req));
      else
        send(
          Buffer.concat([Buffer.from([0, 0, 0, 3]), req.subarray(12, 16), Buffer.from('denied')]),
        );
    });
    try {
      await expect(new UdpTracker(5000).announce(t.url, params)).rejects.toThrow(
        new TrackerError('tracker: denied'),
      );
    } finally {
      t.close();
    }
  });

  it('gives up with a timeout when the tracker never answers', async () => {
    const t = await fakeTracker(() => undefined);
    try {
      await expect(new UdpTracker(1500).announce(t.url, params)).rejects.toThrow(/timeout/);
    } finally {
      t.close();
    }
  });
});
