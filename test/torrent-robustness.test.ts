/**
 * Our downloader against scripted peers built from our own codec: a peer that sends
 * corrupt blocks is banned while the download completes from an honest one; and a
 * download killed with SIGKILL resumes without requesting any piece already on disk.
 */
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pieceHash, pieceSize } from '../agent/torrent/metainfo.js';
import {
  STANDALONE,
  exitCode,
  makeTorrent,
  ours,
  randomFile,
  removeTemps,
  sameBytes,
  tmp,
  type Proc,
} from './torrent/helpers.js';
import { TestPeer } from './torrent/test-peer.js';

jest.setTimeout(60_000);

const peers: TestPeer[] = [];
const procs: Proc[] = [];
beforeAll(() => {
  if (!existsSync(STANDALONE)) throw new Error('dist/ is missing: run `npm run build` first');
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});
afterAll(() => removeTemps());

it('bans a peer that sends corrupt pieces and completes from an honest one', async () => {
  const dir = tmp();
  const content = randomFile(join(dir, 'seed'), 'c.bin', 2 * 1024 * 1024 + 77);
  const t = await makeTorrent(content, 16384, join(dir, 'c.torrent'));
  const bad = new TestPeer(t.meta, content, { corrupt: true });
  const good = new TestPeer(t.meta, content, { blockDelayMs: 1 });
  peers.push(bad, good);
  const [bp, gp] = [await bad.listen(), await good.listen()];
  const out = join(dir, 'out');
  const d = ours([
    'download',
    t.path,
    '--out',
    out,
    '--json',
    '--no-tracker',
    '--listen',
    '127.0.0.1:0',
    '--peer',
    `127.0.0.1:${bp}`,
    '--peer',
    `127.0.0.1:${gp}`,
  ]);
  procs.push(d);
  expect(await exitCode(d)).toBe(0);
  expect(sameBytes(join(out, 'c.bin'), content)).toBe(true);
  const events = d.json();
  expect(events.filter((e) => e['event'] === 'banned').map((e) => e['peer'])).toEqual([
    `127.0.0.1:${bp}`,
  ]);
  const done = events.find((e) => e['event'] === 'done')!;
  expect(done['hashFailures']).toBeGreaterThanOrEqual(3);
  expect(bad.requests.length).toBeGreaterThan(0);
  // Banned: one connection, closed by us, never re-dialled.
  expect(bad.connections).toBe(1);
});

it('resumes after kill -9 without requesting any piece that was on disk', async () => {
  const dir = tmp();
  const content = randomFile(join(dir, 'seed'), 'r.bin', 6 * 1024 * 1024 + 5);
  const t = await makeTorrent(content, 32768, join(dir, 'r.torrent'));
  const out = join(dir, 'out');
  const args = (port: number): string[] => [
    'download',
    t.path,
    '--out',
    out,
    '--json',
    '--no-tracker',
    '--listen',
    '127.0.0.1:0',
    '--peer',
    `127.0.0.1:${port}`,
  ];

  // Phase 1: a throttled seeder (~2 MB/s); kill -9 once some but not all pieces are verified.
  const slow = new TestPeer(t.meta, content, { blockDelayMs: 8 });
  peers.push(slow);
  const d1 = ours(args(await slow.listen()));
  procs.push(d1);
  await d1.waitFor((l) => {
    if (!l.startsWith('{')) return false;
    const j = JSON.parse(l) as { piecesVerified?: number };
    return (j.piecesVerified ?? 0) >= 20;
  });
  d1.child.kill('SIGKILL');
  await d1.exited;

  // What is on disk, judged independently of our resume journal.
  const partial = existsSync(join(out, 'r.bin'))
    ? readFileSync(join(out, 'r.bin'))
    : Buffer.alloc(0);
  const onDisk = new Set<number>();
  for (let i = 0; i < t.meta.pieceCount; i++) {
    const start = i * t.meta.pieceLength;
    const end = start + pieceSize(t.meta, i);
    if (
      end <= partial.length &&
      createHash('sha1').update(partial.subarray(start, end)).digest().equals(pieceHash(t.meta, i))
    )
      onDisk.add(i);
  }
  expect(onDisk.size).toBeGreaterThanOrEqual(20);
  expect(onDisk.size).toBeLessThan(t.meta.pieceCount);

  // Phase 2: restart against a fresh seeder that logs every request.
  const fast = new TestPeer(t.meta, content);
  peers.push(fast);
  const d2 = ours(args(await fast.listen()));
  procs.push(d2);
  expect(await exitCode(d2)).toBe(0);
  expect(sameBytes(join(out, 'r.bin'), content)).toBe(true);
  const again = [...fast.piecesRequested()].filter((p) => onDisk.has(p));
  expect(again).toEqual([]);
  expect(fast.piecesRequested().size).toBe(t.meta.pieceCount - onDisk.size);
});
