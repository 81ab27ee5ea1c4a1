/**
 * BEP 15 against a real UDP tracker (the bittorrent-tracker npm server, installed on first
 * use under .tmp/): our tracker client's announces see each other; our seeder, whose
 * torrent names only a udp:// tracker, is found through it by python3-libtorrent and by our own
 * downloader, and both copies match the source byte for byte. Loopback only.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { TrackerClient } from '../agent/torrent/tracker.js';
import { startListening, stopChild, type ListeningChild } from '../tools/process.js';
import {
  ROOT,
  STANDALONE,
  exitCode,
  freePort,
  makeTorrent,
  ours,
  randomFile,
  removeTemps,
  sameBytes,
  tmp,
  LT_PEER,
  SYSTEM_PYTHON,
  Proc,
} from './torrent/helpers.js';
import { requireTools } from './helpers/tools.js';

requireTools('/usr/bin/python3', 'python3:libtorrent');

jest.setTimeout(120_000);

const SERVER = join(ROOT, 'dist', 'tools', 'peers', 'bittorrent-tracker.js');
let tracker: ListeningChild;
let url: string;
const procs: Proc[] = [];

beforeAll(async () => {
  if (!existsSync(STANDALONE)) throw new Error('dist/ is missing: run `npm run build` first');
  tracker = await startListening([SERVER, '--serve', 'udp']);
  url = `udp://127.0.0.1:${tracker.port}/announce`;
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await stopChild(tracker.child);
  removeTemps();
});

it('announces through a real UDP tracker and gets the other peers back', async () => {
  const client = new TrackerClient([[url]], 5000);
  const infoHash = Buffer.alloc(20, 0x5a);
  const announce = (peer: string, port: number, left: number) =>
    client.announce({
      infoHash,
      peerId: Buffer.from(peer.padEnd(20, '0')),
      port,
      uploaded: 0,
      downloaded: 0,
      left,
      event: 'started',
      numwant: 50,
    });
  await announce('-AA0001-', 40001, 0);
  const second = await announce('-BB0001-', 40002, 100);
  expect(second.peers).toContainEqual({ host: '127.0.0.1', port: 40001 });
  expect(second.intervalSec).toBeGreaterThan(0);
});

it('libtorrent and our downloader find our seeder through a udp:// tracker alone', async () => {
  const dir = tmp();
  const src = randomFile(join(dir, 'data'), 'payload.bin', 3 * 1024 * 1024 + 123);
  const t = await makeTorrent(src, 65536, join(dir, 'payload.torrent'), url);
  const seed = ours([
    'seed',
    t.path,
    '--data',
    join(dir, 'data'),
    '--listen',
    '127.0.0.1:0',
    '--json',
  ]);
  procs.push(seed);
  await seed.waitFor(/"event":"listening"/);

  // python3-libtorrent, given no peer (aria2c speaks UDP trackers only with DHT on, which
  // these tests keep off).
  const viaLt = join(dir, 'lt-out');
  mkdirSync(viaLt);
  const lt = new Proc(SYSTEM_PYTHON, [LT_PEER, 'leech', t.path, viaLt, String(await freePort())]);
  procs.push(lt);
  await lt.waitFor(/^done /, 60_000);
  expect(sameBytes(join(viaLt, 'payload.bin'), src)).toBe(true);

  const viaOurs = join(dir, 'ours-out');
  const d = ours(['download', t.path, '--out', viaOurs, '--listen', '127.0.0.1:0', '--json']);
  procs.push(d);
  expect(await exitCode(d, 60_000)).toBe(0);
  expect(sameBytes(join(viaOurs, 'payload.bin'), src)).toBe(true);
});
