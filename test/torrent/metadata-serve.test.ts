/**
 * Serving BEP 9 metadata, in-process over loopback sockets with a raw client built from our
 * codec: a seeding session advertises ut_metadata + metadata_size and answers requests
 * with the raw info bytes, rejecting out-of-range pieces and anything past two copies per
 * connection; a magnet session still fetching its metadata rejects every request.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import {
  decodeExtendedHandshake,
  encodeExtendedHandshake,
} from '../../agent/torrent/ext-handshake.js';
import { createMagnetSession } from '../../agent/torrent/magnet-session.js';
import { parseMagnet, formatMagnet } from '../../agent/torrent/magnet.js';
import { createTorrent } from '../../agent/torrent/create.js';
import { parseMetainfo } from '../../agent/torrent/metainfo.js';
import { createTorrentSession } from '../../agent/torrent/session.js';
import {
  decodeMetadataMessage,
  encodeMetadataRequest,
  metadataPieceCount,
  UT_METADATA_LOCAL_ID,
  type MetadataMessage,
} from '../../agent/torrent/ut-metadata.js';
import { WireParser, encodeExtended, encodeHandshake } from '../../agent/torrent/wire.js';
import { makeTorrent, randomFile, removeTemps, tmp, until } from './helpers.js';

afterAll(() => removeTemps());

const MY_ID = 7;

/** A raw BEP 10 client: handshakes, then sends ut_metadata requests and collects replies. */
async function client(port: number, infoHash: Buffer, metadataSize?: number) {
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((r) => s.once('connect', () => r()));
  const replies: MetadataMessage[] = [];
  let theirs: ReturnType<typeof decodeExtendedHandshake> | null = null;
  const parser = new WireParser(1 << 21, (m) => {
    if (m.type !== 'extended') return;
    if (m.id === 0) theirs = decodeExtendedHandshake(m.payload);
    else if (m.id === MY_ID) {
      const r = decodeMetadataMessage(m.payload);
      replies.push(r.type === 'data' ? { ...r, data: Buffer.from(r.data) } : r);
    }
  });
  s.on('data', (d: Buffer) => parser.push(d));
  s.write(encodeHandshake(infoHash, Buffer.alloc(20, 0x41), { fast: true, extended: true }));
  s.write(
    encodeExtended(
      0,
      encodeExtendedHandshake({
        m: { ut_metadata: MY_ID },
        ...(metadataSize ? { metadataSize } : {}),
      }),
    ),
  );
  await until(() => theirs !== null, 5000, 'extended handshake');
  const h = theirs!;
  return {
    h,
    replies,
    /** Asks for a piece on the id the peer advertised (or on `id`). */
    request(piece: number, id = h.m.get('ut_metadata')!): void {
      s.write(encodeExtended(id, encodeMetadataRequest('request', piece)));
    },
    close: () => s.destroy(),
  };
}

it('a seeding session serves the raw info dictionary, and rejects out of range and past two copies', async () => {
  const dir = tmp('bt-serve-');
  // Many files: an info dictionary of several 16 KiB pieces.
  for (let i = 0; i < 300; i++)
    randomFile(
      join(dir, 'd'),
      `f${i}-with-a-long-name-so-the-dictionary-grows-xxxxxxxxxxxxxxxxx.bin`,
      50,
    );
  const t = await makeTorrent(join(dir, 'd'), 16384, join(dir, 'd.torrent'));
  const n = metadataPieceCount(t.meta.infoBytes.length);
  expect(n).toBeGreaterThanOrEqual(2);
  const s = createTorrentSession({
    metainfo: t.meta,
    dir,
    listen: { host: '127.0.0.1', port: 0 },
    stateDir: null,
    check: 'full',
    useTrackers: false,
  });
  await s.start();
  try {
    const c = await client(s.port, t.meta.infoHash);
    expect(c.h.metadataSize).toBe(t.meta.infoBytes.length);
    for (let i = 0; i < n; i++) c.request(i);
    c.request(n); // out of range
    await until(() => c.replies.length === n + 1, 5000, 'replies');
    const data = c.replies.filter((r) => r.type === 'data');
    const info = Buffer.concat(data.map((r) => (r.type === 'data' ? r.data : Buffer.alloc(0))));
    expect(info.equals(t.meta.infoBytes)).toBe(true);
    expect(createHash('sha1').update(info).digest()).toEqual(t.meta.infoHash);
    expect(c.replies.at(-1)).toEqual({ type: 'reject', piece: n });
    // A second copy is served; a third is not.
    for (let i = 0; i < 2 * n; i++) c.request(i % n);
    await until(() => c.replies.length === 3 * n + 1, 5000, 'more replies');
    const tail = c.replies.slice(n + 1);
    expect(tail.slice(0, n).every((r) => r.type === 'data')).toBe(true);
    expect(tail.slice(n).every((r) => r.type === 'reject')).toBe(true);
    c.close();
  } finally {
    await s.stop();
  }
});

it('a private torrent (BEP 27) does not offer its metadata, and rejects a request for it', async () => {
  const dir = tmp('bt-serve-');
  randomFile(dir, 'p.bin', 40_000);
  const raw = await createTorrent({ path: join(dir, 'p.bin'), pieceLength: 16384, private: true });
  const meta = parseMetainfo(raw);
  expect(meta.private).toBe(true);
  const s = createTorrentSession({
    metainfo: meta,
    dir,
    listen: { host: '127.0.0.1', port: 0 },
    stateDir: null,
    check: 'full',
    useTrackers: false,
  });
  await s.start();
  try {
    const c = await client(s.port, meta.infoHash);
    expect(c.h.m.has('ut_metadata')).toBe(false);
    expect(c.h.metadataSize).toBeNull();
    c.request(0, UT_METADATA_LOCAL_ID); // guessing the id anyway
    await until(() => c.replies.length === 1, 5000, 'reply');
    expect(c.replies).toEqual([{ type: 'reject', piece: 0 }]);
    c.close();
  } finally {
    await s.stop();
  }
});

it('a magnet session without the metadata yet rejects metadata requests (and asks for it)', async () => {
  const dir = tmp('bt-serve-');
  const hash = Buffer.alloc(20, 0x5a);
  const s = createMagnetSession({
    magnet: parseMagnet(formatMagnet({ infoHash: hash })),
    dir,
    listen: { host: '127.0.0.1', port: 0 },
    useTrackers: false,
    stateDir: null,
  });
  await s.start();
  try {
    expect(s.progress().state).toBe('fetching-metadata');
    // A peer that claims the metadata (so the fetcher keeps it) and asks for it too.
    const c = await client(s.port, hash, 1000);
    expect(c.h.m.get('ut_metadata')).toBeGreaterThan(0);
    expect(c.h.metadataSize).toBeNull(); // nothing to offer
    c.request(0);
    await until(() => c.replies.some((r) => r.type === 'reject'), 5000, 'reject');
    expect(c.replies.filter((r) => r.type !== 'request')).toEqual([{ type: 'reject', piece: 0 }]);
    expect(c.replies).toContainEqual({ type: 'request', piece: 0 }); // it asked us, too
    c.close();
  } finally {
    await s.stop();
  }
});
