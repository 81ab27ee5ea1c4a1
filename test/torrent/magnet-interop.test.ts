/**
 * Magnet links (BEP 9 ut_metadata over BEP 10) with real clients on loopback (DHT, LSD,
 * PEX, UPnP/NAT-PMP off, bound to 127.0.0.1):
 * - our downloader, given only a magnet and a peer, fetches the metadata (several 16 KiB
 *   pieces) and the data from a python3-libtorrent seeder;
 * - aria2c, given only a magnet whose `tr` is a local HTTP tracker, fetches the metadata
 *   and the data from our seeder;
 * - python3-libtorrent, given only a magnet and our address, does the same;
 * - a malicious peer whose metadata does not hash to the info hash is dropped, banned
 *   (never dialled again) and counted, and the fetch completes from an honest seeder.
 * Every result is compared byte for byte.
 */
import { jest } from '@jest/globals';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatMagnet } from '../../agent/torrent/magnet.js';
import { metadataPieceCount } from '../../agent/torrent/ut-metadata.js';
import { TrackerServer } from '../../agent/torrent/tracker-server.js';
import {
  LT_PEER,
  Proc,
  ROOT,
  STANDALONE,
  SYSTEM_PYTHON,
  aria2cArgs,
  exitCode,
  freePort,
  makeTorrent,
  ours,
  randomFile,
  removeTemps,
  sameBytes,
  tmp,
  until,
} from './helpers.js';
import { MetadataPeer } from './metadata-peer.js';
import { requireTools } from '../helpers/tools.js';

requireTools('aria2c', '/usr/bin/python3', 'python3:libtorrent');

jest.setTimeout(60_000);

const LT_MAGNET = join(ROOT, 'test', 'torrent', 'lt_magnet.py');
const procs: Proc[] = [];
const track = (p: Proc): Proc => (procs.push(p), p);
const closers: (() => Promise<void>)[] = [];

beforeAll(() => {
  if (!readdirSync(join(ROOT, 'dist', 'agent', 'torrent')).includes('magnet-session.js'))
    throw new Error('dist/ is missing or stale: run `npm run build` first');
  expect(STANDALONE).toBeTruthy();
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(closers.splice(0).map((c) => c()));
});
afterAll(() => removeTemps());

function events(p: Proc, event: string): Record<string, unknown>[] {
  return p.json().filter((j) => j['event'] === event);
}

/** Many files with long names: an info dictionary of several 16 KiB metadata pieces. */
function manyFiles(root: string, n: number): string[] {
  const files: string[] = [];
  for (let i = 0; i < n; i++)
    files.push(
      randomFile(
        root,
        `dir-${i % 7}/file-${String(i).padStart(4, '0')}-with-a-rather-long-name-to-grow-the-info-dictionary.bin`,
        1000 + ((i * 7919) % 9000),
      ),
    );
  return files;
}

it('our downloader fetches a magnet (metadata, then data) from a python3-libtorrent seeder', async () => {
  const dir = tmp('bt-mag-');
  const root = join(dir, 'seed', 'many');
  const files = manyFiles(root, 400);
  const t = await makeTorrent(root, 32768, join(dir, 'many.torrent'));
  expect(metadataPieceCount(t.meta.infoBytes.length)).toBeGreaterThanOrEqual(3);
  const port = await freePort();
  const lt = track(
    new Proc(SYSTEM_PYTHON, [LT_PEER, 'seed', t.path, join(dir, 'seed'), String(port)]),
  );
  await lt.waitFor(/^ready/);
  const out = join(dir, 'out');
  const magnet = formatMagnet({ infoHash: t.meta.infoHash, name: 'many' });
  const d = track(
    ours([
      'download',
      magnet,
      '--out',
      out,
      '--json',
      '--listen',
      '127.0.0.1:0',
      '--peer',
      `127.0.0.1:${port}`,
    ]),
  );
  expect(await exitCode(d)).toBe(0);
  expect(events(d, 'metadata')).toEqual([
    {
      event: 'metadata',
      infoHash: t.meta.infoHashHex,
      name: 'many',
      totalBytes: t.meta.totalLength,
      pieceCount: t.meta.pieceCount,
    },
  ]);
  expect(events(d, 'progress')[0]).toMatchObject({ state: 'fetching-metadata' });
  for (const f of files) expect(sameBytes(f.replace(join(dir, 'seed'), out), f)).toBe(true);
  expect(events(d, 'done')[0]).toMatchObject({ left: 0, hashFailures: 0 });
});

describe('our seeder serves the metadata', () => {
  let dir: string;
  let files: string[];
  let magnet: string;
  let seedPort: number;
  let tracker: TrackerServer;
  let seed: Proc;

  beforeAll(async () => {
    tracker = new TrackerServer({ intervalSec: 5 });
    const url = await tracker.listen();
    dir = tmp('bt-mags-');
    files = manyFiles(join(dir, 'data', 'payload'), 300);
    const t = await makeTorrent(join(dir, 'data', 'payload'), 16384, join(dir, 'p.torrent'), url);
    expect(metadataPieceCount(t.meta.infoBytes.length)).toBeGreaterThanOrEqual(2);
    // The link names the tracker only: the metadata must come from our seeder.
    magnet = formatMagnet({ infoHash: t.meta.infoHash, trackers: [url] });
    seed = new Proc(process.execPath, [
      STANDALONE,
      'seed',
      t.path,
      '--data',
      join(dir, 'data'),
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    seedPort = (JSON.parse(await seed.waitFor(/"event":"listening"/)) as { port: number }).port;
    await until(
      () => tracker.events.some((e) => e.event === 'started' && e.left === 0),
      10_000,
      'seeder announce',
    );
  });
  afterAll(async () => {
    await seed.kill();
    await tracker.close();
  });

  it('aria2c downloads the magnet (tr = a local tracker) from our seeder', async () => {
    const out = join(dir, 'aria-out');
    const aria = track(
      new Proc('aria2c', [
        ...aria2cArgs(await freePort()),
        '--seed-time=0',
        '--bt-save-metadata=false',
        '-d',
        out,
        magnet,
      ]),
    );
    expect(await exitCode(aria)).toBe(0);
    for (const f of files) expect(sameBytes(f.replace(join(dir, 'data'), out), f)).toBe(true);
  });

  it('python3-libtorrent downloads the magnet from our seeder', async () => {
    const out = join(dir, 'lt-out');
    mkdirSync(out, { recursive: true });
    const lt = track(
      new Proc(SYSTEM_PYTHON, [
        LT_MAGNET,
        magnet,
        out,
        String(await freePort()),
        `127.0.0.1:${seedPort}`,
      ]),
    );
    await lt.waitFor(/^metadata payload$/, 30_000);
    await lt.waitFor(/^done /, 30_000);
    for (const f of files) expect(sameBytes(f.replace(join(dir, 'data'), out), f)).toBe(true);
  });
});

it('a peer whose metadata does not hash to the info hash is banned; the fetch completes from an honest seeder', async () => {
  const dir = tmp('bt-magbad-');
  const content = randomFile(join(dir, 'seed'), 'x.bin', 1024 * 1024 + 3);
  const t = await makeTorrent(content, 16384, join(dir, 'x.torrent'));
  const bad = new MetadataPeer(t.meta.infoHash, t.meta.infoBytes, { corrupt: true });
  await bad.listen();
  closers.push(() => bad.close());
  // The honest seeder's port is given too but nothing listens there until the bad peer
  // has been dealt with: the liar is asked first, deterministically.
  const honestPort = await freePort();
  const out = join(dir, 'out');
  const magnet = formatMagnet({
    infoHash: t.meta.infoHash,
    peers: [
      { host: '127.0.0.1', port: bad.port },
      { host: '127.0.0.1', port: honestPort },
    ],
  });
  const d = track(
    ours(['download', magnet, '--out', out, '--json', '--listen', '127.0.0.1:0', '--no-tracker']),
  );
  await d.waitFor((l) => l.includes('"event":"banned"'), 20_000);
  expect(events(d, 'banned')).toEqual([{ event: 'banned', peer: `127.0.0.1:${bad.port}` }]);
  expect(bad.requests.length).toBe(metadataPieceCount(t.meta.infoBytes.length));
  track(new Proc(SYSTEM_PYTHON, [LT_PEER, 'seed', t.path, join(dir, 'seed'), String(honestPort)]));
  expect(await exitCode(d, 40_000)).toBe(0);
  expect(sameBytes(join(out, 'x.bin'), content)).toBe(true);
  const done = events(d, 'done')[0]!;
  expect(done).toMatchObject({ left: 0, banned: 1 });
  // Counted while fetching, and never dialled again.
  expect(
    events(d, 'progress').some(
      (p) => (p['metadata'] as { hashFailures: number } | undefined)?.hashFailures === 1,
    ),
  ).toBe(true);
  expect(bad.connections).toBe(1);
});
