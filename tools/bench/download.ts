/**
 * `npm run bench:download [-- --size MiB --rounds N --no-libtorrent]`
 *
 * One python3-libtorrent seeder on loopback serves a random file (default 512 MiB,
 * 256 KiB pieces). Alternately our downloader (the real CLI, a child process) and aria2c
 * fetch it from that seeder, then a minimal Node leecher (download-floor.ts: what the runtime
 * itself costs) and optionally a libtorrent leecher; each run reports wall
 * MB/s, CPU seconds (user+sys of the downloader process, from wait4 rusage via
 * /usr/bin/time) and peak RSS (the issue bounds ours at 150 MB for a 1 GiB torrent).
 * The ratios are printed last.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  writeSync,
  rmSync,
  writeFileSync,
  readFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTorrent, withTrackers } from '../../agent/torrent/create.js';
import { parseMetainfo } from '../../agent/torrent/metainfo.js';
import { TrackerServer } from '../../agent/torrent/tracker-server.js';
import { TrackerClient } from '../../agent/torrent/tracker.js';
import { makePeerId } from '../../agent/torrent/session.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
/** `btagent download`, as users run it. */
const BTAGENT = join(ROOT, 'dist', 'agent', 'main.js');
const LT_PEER = join(ROOT, 'tools', 'bench', 'lt_peer.py');
/** The Node floor: a minimal leecher (download-floor.ts), for what the runtime itself costs. */
const FLOOR = join(ROOT, 'dist', 'tools', 'bench', 'download-floor.js');
const PY = '/usr/bin/python3';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const sizeMiB = arg('--size', 512);
const rounds = arg('--rounds', 3);
const withLt = !process.argv.includes('--no-libtorrent');
/** Extra node flags for our downloader, e.g. BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=prof'. */
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface Run {
  wall: number;
  cpu: number;
  /** Peak resident set size, MiB. */
  rssMiB: number;
}

/** Runs a command under /usr/bin/time; returns wall seconds, CPU (user+sys) seconds, peak RSS. */
function timed(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const tf = join(tmpdir(), `bench-time-${process.pid}-${Date.now()}`);
    const t0 = performance.now();
    const c = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', tf, cmd, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    c.on('exit', (code) => {
      const wall = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}: ${err}`));
      const [u, s, kib] = readFileSync(tf, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
      rmSync(tf, { force: true });
      resolve({ wall, cpu: u! + s!, rssMiB: kib! / 1024 });
    });
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-dl-'));
  try {
    const seedDir = join(dir, 'seed');
    mkdirSync(seedDir);
    const file = join(seedDir, 'bench.bin');
    const fd = openSync(file, 'w');
    for (let i = 0; i < sizeMiB; i++) writeSync(fd, randomBytes(1 << 20));
    closeSync(fd);
    const bytes = sizeMiB * 1024 * 1024;
    const tracker = new TrackerServer({ intervalSec: 60 });
    const url = await tracker.listen();
    const raw = withTrackers(await createTorrent({ path: file, pieceLength: 256 * 1024 }), [url]);
    const torrent = join(dir, 'bench.torrent');
    writeFileSync(torrent, raw);
    const meta = parseMetainfo(raw);

    const seedPort = await freePort();
    const seeder = spawn(PY, [LT_PEER, 'seed', torrent, seedDir, String(seedPort)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) =>
      seeder.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
    );
    // aria2c finds the seeder through the tracker; register it (libtorrent may not announce to loopback).
    await new TrackerClient([[url]]).announce({
      infoHash: meta.infoHash,
      peerId: makePeerId(),
      port: seedPort,
      uploaded: 0,
      downloaded: 0,
      left: 0,
      event: 'started',
      numwant: 0,
    });

    const results: Record<string, Run[]> = {
      btoverlay: [],
      aria2c: [],
      'node-floor': [],
      libtorrent: [],
    };
    const fresh = (name: string): string => {
      const o = join(dir, name);
      rmSync(o, { recursive: true, force: true });
      mkdirSync(o);
      return o;
    };
    const drop = (): void => {
      // Start each run from the same page-cache state for the seeder's file.
      spawnSync('sync');
    };
    for (let r = 0; r < rounds; r++) {
      drop();
      const o1 = fresh('out-ours');
      results['btoverlay']!.push(
        await timed(process.execPath, [
          ...NODE_FLAGS,
          BTAGENT,
          'download',
          torrent,
          '--out',
          o1,
          '--peer',
          `127.0.0.1:${seedPort}`,
          '--no-tracker',
          '--listen',
          '127.0.0.1:0',
          '--json',
        ]),
      );
      rmSync(o1, { recursive: true, force: true });
      drop();
      const o2 = fresh('out-aria2c');
      const ap = await freePort();
      results['aria2c']!.push(
        await timed('aria2c', [
          '--enable-dht=false',
          '--enable-dht6=false',
          '--bt-enable-lpd=false',
          '--enable-peer-exchange=false',
          '--interface=127.0.0.1',
          `--listen-port=${ap}`,
          '--seed-time=0',
          '--file-allocation=none',
          '--summary-interval=0',
          '--console-log-level=error',
          '--no-conf',
          '-d',
          o2,
          torrent,
        ]),
      );
      rmSync(o2, { recursive: true, force: true });
      drop();
      const o4 = fresh('out-floor');
      results['node-floor']!.push(
        await timed(process.execPath, [
          FLOOR,
          torrent,
          join(o4, 'bench.bin'),
          `127.0.0.1:${seedPort}`,
        ]),
      );
      rmSync(o4, { recursive: true, force: true });
      if (withLt) {
        drop();
        const o3 = fresh('out-lt');
        results['libtorrent']!.push(
          await timed(PY, [
            LT_PEER,
            'leech',
            torrent,
            o3,
            String(await freePort()),
            `127.0.0.1:${seedPort}`,
          ]),
        );
        rmSync(o3, { recursive: true, force: true });
      }
      const line = Object.entries(results)
        .filter(([, v]) => v.length > r)
        .map(
          ([k, v]) =>
            `${k} ${(bytes / 1e6 / v[r]!.wall).toFixed(0)} MB/s ${v[r]!.cpu.toFixed(2)} CPU-s ${v[r]!.rssMiB.toFixed(0)} MiB RSS`,
        )
        .join(' | ');
      console.log(`round ${r + 1}: ${line}`);
    }
    seeder.kill();
    await tracker.close();

    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(
      `\n${sizeMiB} MiB, 256 KiB pieces, python3-libtorrent seeder on loopback, ${rounds} rounds (median):`,
    );
    console.log('client       MB/s   CPU-s   CPU-s/GiB  peak RSS MiB');
    const summary: Record<string, { rate: number; cpu: number }> = {};
    for (const [k, v] of Object.entries(results)) {
      if (v.length === 0) continue;
      const rate = med(v.map((x) => bytes / 1e6 / x.wall));
      const cpu = med(v.map((x) => x.cpu));
      const rss = Math.max(...v.map((x) => x.rssMiB));
      summary[k] = { rate, cpu };
      console.log(
        `${k.padEnd(12)} ${rate.toFixed(0).padStart(5)} ${cpu.toFixed(2).padStart(7)} ${(cpu / (sizeMiB / 1024)).toFixed(2).padStart(11)} ${rss.toFixed(0).padStart(13)}`,
      );
    }
    const ours = summary['btoverlay']!;
    const lt = summary['libtorrent'];
    const ltPart = lt ? `, ${(ours.rate / lt.rate).toFixed(2)}x libtorrent (goal >= 0.8)` : '';
    const aria = summary['aria2c']!;
    const floor = summary['node-floor']!;
    // How much of the CPU gap to aria2c is Node's own (the floor) and how much the engine's.
    console.log(
      `node floor: ${(floor.cpu / aria.cpu).toFixed(2)}x aria2c's CPU (a minimal Node leecher: ` +
        `no picker, choker, resume or progress); btoverlay ${(ours.cpu / floor.cpu).toFixed(2)}x the floor`,
    );
    console.log(
      `ratio: btoverlay ${(ours.rate / aria.rate).toFixed(2)}x aria2c speed (goal >= 1.5)${ltPart}; CPU ${(ours.cpu / aria.cpu).toFixed(2)}x aria2c`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
