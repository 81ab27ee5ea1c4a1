/**
 * Unmodified BitTorrent clients use the overlay through the agents' tracker
 * endpoint: a python3-libtorrent seeder announces to agent A, aria2c and
 * transmission-cli announce to agent B, and gossip between A and B is the only
 * thing connecting them. All on 127.0.0.1 with DHT, LSD, PEX, UPnP/NAT-PMP off;
 * results are compared byte for byte.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import bencodeLib from 'bencode';
import { createTorrent, withTrackers } from '../agent/torrent/create.js';
import { startAgent, type AgentProcess } from './helpers/agent-process.js';
import {
  Proc,
  SYSTEM_PYTHON,
  aria2cArgs,
  exitCode,
  freePort,
  randomFile,
  removeTemps,
  sameBytes,
  tmp,
  until,
  transmissionArgs,
} from './torrent/helpers.js';
import { requireTools } from './helpers/tools.js';
import { parseMetainfo } from '../agent/torrent/metainfo.js';

requireTools('aria2c', 'transmission-cli', '/usr/bin/python3', 'python3:libtorrent');

jest.setTimeout(120_000);

/**
 * A libtorrent seeder that takes the tracker's interval as given (libtorrent's own
 * floor is 5 minutes), so that it hears of new leechers soon and dials them —
 * transmission does not dial peers on loopback addresses, it only accepts.
 */
const SEEDER = `
import sys, time
import libtorrent as lt
torrent, datadir, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = lt.high_performance_seed()
s.update({
    "listen_interfaces": "127.0.0.1:%d" % port,
    "outgoing_interfaces": "127.0.0.1",
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_incoming_utp": False, "enable_outgoing_utp": False,
    "allow_multiple_connections_per_ip": True,
    "min_announce_interval": 1,
})
ses = lt.session(s)
h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": datadir,
                     "flags": lt.torrent_flags.seed_mode | lt.torrent_flags.disable_pex})
while not ses.is_listening():
    time.sleep(0.05)
print("ready %d" % ses.listen_port(), flush=True)
while True:
    time.sleep(1)
`;

const procs: Proc[] = [];
const track = (p: Proc): Proc => (procs.push(p), p);
let a: AgentProcess;
let b: AgentProcess;
let dir: string;
let content: string;
let torrentB: string;
let infoHash: Buffer;

const esc = (buf: Buffer): string =>
  [...buf].map((x) => '%' + x.toString(16).padStart(2, '0')).join('');

/** Seeders (complete) agent B knows for the torrent, by scrape. */
async function seedersOnB(): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${b.port}/scrape?info_hash=${esc(infoHash)}`);
  const r = bencodeLib.decode(new Uint8Array(await res.arrayBuffer())) as unknown as {
    files: Record<string, { complete: number }>;
  };
  return Object.values(r.files)[0]?.complete ?? 0;
}

beforeAll(async () => {
  dir = tmp('bt-tracker-interop-');
  const [portA, portB] = await Promise.all([freePort(), freePort()]);
  const flags = (own: number, other: number, name: string): string[] => [
    '--listen',
    `127.0.0.1:${own}`,
    '--bootstrap',
    `127.0.0.1:${other}`,
    '--tracker-interval',
    '2s',
    '--data-dir',
    join(dir, name),
    '--peer-port',
    '0',
  ];
  [a, b] = await Promise.all([
    startAgent(flags(portA, portB, 'agent-a')),
    startAgent(flags(portB, portA, 'agent-b')),
  ]);
  content = randomFile(join(dir, 'seed'), 'payload.bin', 3 * 1024 * 1024 + 777);
  const raw = await createTorrent({ path: content, pieceLength: 65536 });
  const torrentA = join(dir, 'a.torrent');
  torrentB = join(dir, 'b.torrent');
  writeFileSync(torrentA, withTrackers(raw, [`http://127.0.0.1:${a.port}/announce`]));
  writeFileSync(torrentB, withTrackers(raw, [`http://127.0.0.1:${b.port}/announce`]));
  infoHash = Buffer.from(parseMetainfo(raw).infoHash);
  const seeder = join(dir, 'seeder.py');
  writeFileSync(seeder, SEEDER);
  const seed = track(
    new Proc(SYSTEM_PYTHON, [seeder, torrentA, join(dir, 'seed'), String(await freePort())]),
  );
  await seed.waitFor(/^ready/);
  // The seeder announced to A only; B learns of it by gossip.
  const deadline = Date.now() + 20_000;
  while ((await seedersOnB()) < 1) {
    if (Date.now() > deadline) throw new Error('agent B never learned of the seeder');
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all([a?.stop(), b?.stop()]);
  removeTemps();
});

it('aria2c, given only agent B as tracker, downloads from the seeder that announced to A', async () => {
  const out = join(dir, 'aria-out');
  const aria = track(
    new Proc('aria2c', [...aria2cArgs(await freePort()), '--seed-time=0', '-d', out, torrentB]),
  );
  expect(await exitCode(aria, 90_000)).toBe(0);
  expect(sameBytes(join(out, 'payload.bin'), content)).toBe(true);
});

it('transmission-cli, given only agent B as tracker, downloads from it too', async () => {
  const out = join(dir, 'tr-out');
  const port = await freePort();
  track(new Proc('transmission-cli', transmissionArgs(dir, out, port, torrentB)));
  const target = join(out, 'payload.bin');
  await until(
    () => {
      try {
        return statSync(target).size === statSync(content).size && sameBytes(target, content);
      } catch {
        return false;
      }
    },
    90_000,
    'transmission-cli download',
  );
  expect(sameBytes(target, content)).toBe(true);
});
