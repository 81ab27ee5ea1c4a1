/**
 * The metadata phase (agent/torrent/metadata-fetch.ts) against scripted BEP 9 peers on
 * loopback sockets, in-process: liars, protocol breakers and rejecters are dealt with
 * (banned / dropped / left) and counted, and the fetch completes from an honest peer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { MetadataFetcher } from '../../agent/torrent/metadata-fetch.js';
import { encodeMetainfo, findTopLevelValue } from '../../agent/torrent/metainfo.js';
import type { PeerAddr } from '../../agent/torrent/peer-source.js';
import { makePeerId } from '../../agent/torrent/session.js';
import { MAX_METADATA_SIZE, metadataPieceCount } from '../../agent/torrent/ut-metadata.js';
import { until } from './helpers.js';
import { MetadataPeer, type MetadataPeerOptions } from './metadata-peer.js';

const pieces = 2500; // 50 000 bytes of hashes: an info dictionary of 4 metadata pieces
const torrent = encodeMetainfo({
  info: {
    length: pieces * 16384,
    name: 'x.bin',
    'piece length': 16384,
    pieces: randomBytes(20 * pieces),
  },
});
const span = findTopLevelValue(torrent, 'info')!;
const info = torrent.subarray(span[0], span[1]);
const infoHash = createHash('sha1').update(info).digest();

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

async function peer(o: MetadataPeerOptions = {}): Promise<{ p: MetadataPeer; addr: PeerAddr }> {
  const p = new MetadataPeer(infoHash, info, o);
  await p.listen();
  closers.push(() => p.close());
  return { p, addr: { host: '127.0.0.1', port: p.port } };
}

function fetcher(peers: PeerAddr[]): {
  f: MetadataFetcher;
  done: Promise<Buffer>;
  banned: PeerAddr[];
} {
  const f = new MetadataFetcher({ infoHash, peerId: makePeerId(), peers, port: () => 0 });
  const banned: PeerAddr[] = [];
  f.on('peer-banned', (a) => banned.push(a));
  const done = new Promise<Buffer>((resolve) => f.once('metadata', resolve));
  f.start();
  closers.push(() => f.stop());
  return { f, done, banned };
}

it('bans a peer whose metadata (of a size it lied about) fails the hash, then completes from an honest one', async () => {
  expect(metadataPieceCount(info.length)).toBe(4);
  const liar = await peer({ size: info.length + 20_000 });
  const { f, done, banned } = fetcher([liar.addr]);
  await until(() => banned.length === 1, 10_000, 'the liar banned');
  expect(banned).toEqual([liar.addr]);
  expect(f.progress()).toMatchObject({ hashFailures: 1, banned: 1 });
  const honest = await peer();
  f.addPeers([honest.addr, liar.addr]);
  expect((await done).equals(info)).toBe(true);
  expect(liar.p.connections).toBe(1); // never dialled again
  expect(f.bannedPeers()).toEqual([liar.addr]);
  expect(f.knownPeers()).toEqual([honest.addr]);
});

it('refuses an oversized metadata_size, drops a peer that breaks ut_metadata, leaves a rejecting one, all counted', async () => {
  const huge = await peer({ size: MAX_METADATA_SIZE + 1 });
  const breaker = await peer({ badTotalSize: true });
  const rejecter = await peer({ reject: true });
  const { f, done } = fetcher([huge.addr, breaker.addr, rejecter.addr]);
  await until(
    () =>
      f.progress().refusedSizes === 1 &&
      f.progress().protocolErrors === 1 &&
      rejecter.p.requests.length > 0,
    10_000,
    'every bad peer seen',
  );
  expect(huge.p.requests).toEqual([]); // never asked for anything
  expect(f.progress().piecesReceived).toBe(0);
  const honest = await peer();
  f.addPeers([honest.addr]);
  expect((await done).equals(info)).toBe(true);
  expect(f.progress()).toMatchObject({ refusedSizes: 1, protocolErrors: 1, hashFailures: 0 });
});
