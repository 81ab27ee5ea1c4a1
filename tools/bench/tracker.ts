/**
 * `npm run bench:tracker` — HTTP tracker announces/s against a real agent's
 * /announce endpoint and, in the same run, against the `bittorrent-tracker` npm
 * server (HTTP only), with the same load driver: wrk (Debian package), keep-alive
 * connections, every request a BEP 3 announce (compact, numwant 50) for one of
 * 1 000 torrents from a fresh random peer id and port, so swarms grow as they
 * would. Rounds alternate between the two; the ratio agent/bittorrent-tracker is
 * printed last (goal ≥ 2).
 *
 * Flags: --seconds N per round (default 5), --rounds N (default 3),
 * --connections N (default 32), --torrents N (default 1000).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../agent/paths.js';
import { bittorrentTrackerFile } from '../peers/bittorrent-tracker.js';
import { startListening, stopChild } from '../process.js';

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = opt('--seconds', 5);
const ROUNDS = opt('--rounds', 3);
const CONNECTIONS = opt('--connections', 32);
const TORRENTS = opt('--torrents', 1000);
const GOAL = 2;

/**
 * The wrk script (wrk embeds LuaJIT, i.e. Lua 5.1: no integer division operator): each request an announce for a random torrent of the pool, from
 * a random peer id and port (a new peer each time), left 0 or not at random.
 */
const WRK_SCRIPT = `
local torrents = {}
local hex = "0123456789ABCDEF"
math.randomseed(os.time())
for t = 1, ${TORRENTS} do
  local s = ""
  for i = 1, 20 do
    local b = math.random(0, 255)
    local hi = math.floor(b / 16) + 1
    local lo = b % 16 + 1
    s = s .. "%" .. hex:sub(hi, hi) .. hex:sub(lo, lo)
  end
  torrents[t] = s
end
request = function()
  local path = "/announce?info_hash=" .. torrents[math.random(1, #torrents)] ..
    "&peer_id=-WK0001-" .. string.format("%06d%06d", math.random(0, 999999), math.random(0, 999999)) ..
    "&port=" .. math.random(1024, 65535) ..
    "&uploaded=0&downloaded=0&left=" .. (math.random(0, 1) * 1048576) ..
    "&compact=1&numwant=50"
  return wrk.format("GET", path)
end
`;

/** One announce with fetch: checks the server answers a proper reply with peers. */
async function check(port: number, name: string): Promise<void> {
  const ih = '%AB'.repeat(20);
  let body = '';
  for (let i = 0; i < 3; i++) {
    const res = await fetch(
      `http://127.0.0.1:${port}/announce?info_hash=${ih}&peer_id=-CK0001-00000000000${i}` +
        `&port=${6881 + i}&uploaded=0&downloaded=0&left=0&compact=1&numwant=50`,
    );
    body = Buffer.from(await res.arrayBuffer()).toString('latin1');
    if (res.status !== 200 || body.includes('failure reason')) {
      throw new Error(`${name} answered ${res.status}: ${body.slice(0, 200)}`);
    }
  }
  // The third announce must see (at least) the two before it: 6 bytes per compact peer.
  const peers = /5:peers(\d+):/.exec(body);
  if (peers === null || Number(peers[1]) < 12) {
    throw new Error(`${name} reply without the other peers: ${body}`);
  }
}

/** One wrk run; returns requests/s. */
function wrk(port: number, script: string): number {
  const r = spawnSync(
    'wrk',
    ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '-s', script, `http://127.0.0.1:${port}/`],
    { encoding: 'utf8' },
  );
  if (r.error !== undefined) {
    throw new Error(`wrk: ${r.error.message} (install it: apt-get install wrk)`);
  }
  // wrk runs with its default request when the script fails to load: never count that.
  if (/\.lua:\d+:/.test(r.stdout + r.stderr))
    throw new Error(`wrk script error:\n${r.stdout}${r.stderr}`);
  if (/Non-2xx or 3xx responses|Socket errors/.test(r.stdout)) {
    throw new Error(`wrk saw errors:\n${r.stdout}`);
  }
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (m === null) throw new Error(`wrk output not understood:\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-tracker-'));
  const script = join(work, 'announce.lua');
  writeFileSync(script, WRK_SCRIPT);
  const children: ChildProcess[] = [];
  try {
    const agent = await startListening([
      join(PACKAGE_ROOT, 'dist', 'agent', 'main.js'),
      'run',
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'info', // the "listening" line is how the address is learnt
      '--data-dir',
      join(work, 'agent'),
      '--peer-port',
      '0',
    ]);
    children.push(agent.child);
    bittorrentTrackerFile(); // install before the clock matters
    const peer = await startListening([
      join(PACKAGE_ROOT, 'dist', 'tools', 'peers', 'bittorrent-tracker.js'),
      '--serve',
      'http',
    ]);
    children.push(peer.child);
    await check(agent.port, 'agent');
    await check(peer.port, 'bittorrent-tracker');
    console.log(
      `wrk: 1 thread, ${CONNECTIONS} keep-alive connections, ${SECONDS}s rounds; ` +
        `announces (compact, numwant 50) for ${TORRENTS} torrents, a new random peer each`,
    );
    wrk(agent.port, script); // warm-up both
    wrk(peer.port, script);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      a.push(wrk(agent.port, script));
      b.push(wrk(peer.port, script));
      console.log(
        `round ${r + 1}: agent ${Math.round(a[r])} announces/s, bittorrent-tracker ${Math.round(b[r])} announces/s`,
      );
    }
    const ratio = median(a) / median(b);
    console.log(
      `median: agent ${Math.round(median(a))} announces/s, bittorrent-tracker ${Math.round(median(b))} announces/s`,
    );
    console.log(`${ratio >= GOAL ? 'PASS' : 'FAIL'} goal ratio >= ${GOAL}`);
    console.log(`ratio agent/bittorrent-tracker: ${ratio.toFixed(3)}`);
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
