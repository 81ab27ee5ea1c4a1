/**
 * Interop with real clients on loopback (DHT, LSD, PEX, UPnP/NAT-PMP off, bound to
 * 127.0.0.1): our downloader against aria2c and python3-libtorrent seeders; aria2c,
 * transmission-cli and python3-libtorrent against our seeder (through a local HTTP tracker;
 * libtorrent is also given our address); ours against ours by tracker only. Every result
 * is compared byte for byte.
 */
import { existsSync, readFileSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TrackerServer } from '../agent/torrent/tracker-server.js';
import {
  LT_PEER,
  Proc,
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
  waitPort,
  transmissionArgs,
} from './torrent/helpers.js';

import { jest } from '@jest/globals';
import { requireTools } from './helpers/tools.js';

requireTools('aria2c', 'transmission-cli', '/usr/bin/python3', 'python3:libtorrent');

jest.setTimeout(90_000);

const procs: Proc[] = [];
const track = (p: Proc): Proc => (procs.push(p), p);

beforeAll(() => {
  if (!existsSync(STANDALONE)) throw new Error('dist/ is missing: run `npm run build` first');
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
});
afterAll(() => removeTemps());

function lastEvent(p: Proc, event: string): Record<string, unknown> | undefined {
  return p
    .json()
    .filter((j) => j['event'] === event)
    .pop();
}

async function download(torrent: string, out: string, extra: string[]): Promise<Proc> {
  const d = track(
    ours(['download', torrent, '--out', out, '--json', '--listen', '127.0.0.1:0', ...extra]),
  );
  expect(await exitCode(d)).toBe(0);
  return d;
}

describe('our downloader', () => {
  it('downloads from an aria2c seeder', async () => {
    const dir = tmp();
    const content = randomFile(join(dir, 'seed'), 'a.bin', 3 * 1024 * 1024 + 123);
    const t = await makeTorrent(content, 32768, join(dir, 'a.torrent'));
    const port = await freePort();
    track(
      new Proc('aria2c', [
        ...aria2cArgs(port),
        '-V',
        '--seed-ratio=0.0',
        '-d',
        join(dir, 'seed'),
        t.path,
      ]),
    );
    await waitPort(port);
    const out = join(dir, 'out');
    const d = await download(t.path, out, ['--peer', `127.0.0.1:${port}`, '--no-tracker']);
    expect(sameBytes(join(out, 'a.bin'), content)).toBe(true);
    expect(lastEvent(d, 'done')).toMatchObject({
      verifiedBytes: t.meta.totalLength,
      left: 0,
      hashFailures: 0,
    });
  });

  it('downloads a multi-file torrent from a python3-libtorrent seeder', async () => {
    const dir = tmp();
    const root = join(dir, 'seed', 'multi');
    const a = randomFile(root, 'a.bin', 1024 * 1024 + 5);
    const b = randomFile(root, 'sub/b.bin', 700 * 1024 + 11);
    const t = await makeTorrent(root, 65536, join(dir, 'm.torrent'));
    const port = await freePort();
    const lt = track(
      new Proc(SYSTEM_PYTHON, [LT_PEER, 'seed', t.path, join(dir, 'seed'), String(port)]),
    );
    await lt.waitFor(/^ready/);
    const out = join(dir, 'out');
    await download(t.path, out, ['--peer', `127.0.0.1:${port}`, '--no-tracker']);
    expect(sameBytes(join(out, 'multi', 'a.bin'), a)).toBe(true);
    expect(sameBytes(join(out, 'multi', 'sub', 'b.bin'), b)).toBe(true);
  });
});

describe('our seeder, found through a local HTTP tracker', () => {
  let tracker: TrackerServer;
  let url: string;
  let dir: string;
  let files: string[];
  let torrent: string;
  let totalLength: number;
  let seed: Proc;

  beforeAll(async () => {
    tracker = new TrackerServer({ intervalSec: 5 });
    url = await tracker.listen();
    dir = tmp();
    const root = join(dir, 'data', 'pack');
    files = [
      randomFile(root, 'one.bin', 1536 * 1024 + 1),
      randomFile(root, 'two/three.bin', 900 * 1024 + 3),
    ];
    const t = await makeTorrent(root, 32768, join(dir, 'pack.torrent'), url);
    torrent = t.path;
    totalLength = t.meta.totalLength;
    seed = new Proc(process.execPath, [
      STANDALONE,
      'seed',
      torrent,
      '--data',
      join(dir, 'data'),
      '--listen',
      '127.0.0.1:0',
      '--json',
    ]);
    await seed.waitFor(/"event":"listening"/);
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

  const check = (out: string): void => {
    expect(sameBytes(join(out, 'pack', 'one.bin'), files[0]!)).toBe(true);
    expect(sameBytes(join(out, 'pack', 'two', 'three.bin'), files[1]!)).toBe(true);
  };

  it('aria2c downloads from it', async () => {
    const out = join(dir, 'aria-out');
    const aria = track(
      new Proc('aria2c', [...aria2cArgs(await freePort()), '--seed-time=0', '-d', out, torrent]),
    );
    expect(await exitCode(aria)).toBe(0);
    check(out);
  });

  it('transmission-cli downloads from it', async () => {
    const out = join(dir, 'tr-out');
    const port = await freePort();
    track(new Proc('transmission-cli', transmissionArgs(dir, out, port, torrent)));
    const target = join(out, 'pack', 'two', 'three.bin');
    await until(
      () => {
        try {
          return (
            statSync(target).size === statSync(files[1]!).size &&
            sameBytes(target, files[1]!) &&
            sameBytes(join(out, 'pack', 'one.bin'), files[0]!)
          );
        } catch {
          return false;
        }
      },
      60_000,
      'transmission-cli download',
    );
    check(out);
  });

  it('python3-libtorrent downloads from it', async () => {
    const out = join(dir, 'lt-out');
    mkdirSync(out, { recursive: true });
    const listening = JSON.parse(await seed.waitFor(/"event":"listening"/)) as { port: number };
    // Dialled directly (connect_peer) and found through the tracker too; loopback only.
    const lt = track(
      new Proc(SYSTEM_PYTHON, [
        LT_PEER,
        'leech',
        torrent,
        out,
        String(await freePort()),
        `127.0.0.1:${listening.port}`,
      ]),
    );
    await lt.waitFor(/^done /, 60_000);
    expect(await exitCode(lt, 10_000)).toBe(0);
    check(out);
  });

  it('our downloader finds it by tracker alone and announces completion', async () => {
    const out = join(dir, 'ours-out');
    const d = await download(torrent, out, []);
    check(out);
    expect(lastEvent(d, 'done')).toMatchObject({ verifiedBytes: totalLength });
    expect(tracker.events.some((e) => e.event === 'completed')).toBe(true);
    expect(readFileSync(torrent).length).toBeGreaterThan(0);
  });
});
