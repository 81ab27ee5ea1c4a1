/**
 * Magnet links inside real agents (real processes on 127.0.0.x, btctl, gossip), no tracker
 * anywhere but the agents' own /announce endpoint:
 * - A seeds a torrent; B is given only its magnet link (`btctl torrent add <magnet>`,
 *   overlay discovery): B finds A by info hash in the overlay before it knows anything
 *   else, fetches the metadata from A (BEP 9), downloads, and its bytes are identical.
 *   list/show report a link whose metadata has not arrived as `fetching-metadata`.
 * - aria2c, given only a magnet whose `tr` is agent A's /announce, fetches the metadata and
 *   the data from the agents.
 * - B restarts alone (no peer anywhere): the torrent comes back complete from its
 *   --data-dir, so the fetched metadata was kept.
 */
import { jest } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatMagnet } from '../agent/torrent/magnet.js';
import { parseMetainfo } from '../agent/torrent/metainfo.js';
import {
  BTCTL,
  btctl,
  run,
  startTorrentAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import {
  Proc,
  aria2cArgs,
  exitCode,
  freePort,
  makeTorrent,
  randomFile,
  removeTemps,
  sameBytes,
  tmp,
} from './torrent/helpers.js';
import { requireTools } from './helpers/tools.js';

requireTools('aria2c');

jest.setTimeout(60_000);

const agents: AgentProcess[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(agents.splice(0).map((a) => a.stop(2000)));
  removeTemps();
});

/** A torrent-running agent (see startTorrentAgent) announcing to trackers every 2 s. */
async function agent(host: string, dataDir: string, bootstrap?: string): Promise<AgentProcess> {
  const a = await startTorrentAgent(host, dataDir, {
    bootstrap,
    extra: ['--tracker-interval', '2s'],
  });
  agents.push(a);
  return a;
}

const parse = (out: string): Record<string, unknown> => JSON.parse(out) as Record<string, unknown>;

it('an agent given only a magnet link finds the seeder through the overlay, fetches the metadata and the data; aria2c does too through /announce; the metadata survives a restart', async () => {
  const dir = tmp('bt-e2e-mag-');
  const content = randomFile(join(dir, 'seed'), 'film.bin', 3 * 1024 * 1024 + 4321);
  const t = await makeTorrent(content, 32768, join(dir, 'film.torrent'));
  expect(t.meta.announceTiers).toEqual([]); // no tracker anywhere
  const id = t.meta.infoHashHex;

  const a = await agent('127.0.0.1', join(dir, 'a'));
  const bData = join(dir, 'b');
  const b = await agent('127.0.0.2', bData, a.addr);
  const addA = await btctl([
    'torrent',
    'add',
    t.path,
    '--dir',
    join(dir, 'seed'),
    '--node',
    a.addr,
  ]);
  expect(addA.code).toBe(0);
  const seeded = await run(BTCTL, ['torrent', 'watch', id, '--node', a.addr, '--json'], {}, 30_000);
  expect(seeded.code).toBe(0);

  // A link nobody can serve: it stays in fetching-metadata (what list/show say then).
  const nobody = formatMagnet({ infoHash: Buffer.alloc(20, 0xab), name: 'nobody has this' });
  const addNobody = await btctl(['torrent', 'add', nobody, '--dir', 'out-x', '--node', b.addr]);
  expect(addNobody.code).toBe(0);

  // B: only the magnet link (no peer, no tracker): overlay discovery by info hash.
  const magnet = formatMagnet({ infoHash: t.meta.infoHash, name: 'film.bin' });
  const addB = await btctl([
    'torrent',
    'add',
    magnet,
    '--dir',
    'out-b',
    '--node',
    b.addr,
    '--json',
  ]);
  expect(addB.code).toBe(0);
  expect(parse(addB.stdout)['torrent']).toMatchObject({
    id,
    name: 'film.bin',
    state: 'fetching-metadata',
    metadata_pending: true,
    total_bytes: 0,
  });
  const w = await run(BTCTL, ['torrent', 'watch', id, '--node', b.addr, '--json'], {}, 40_000);
  expect(w.code).toBe(0);
  const states = w.stdout
    .trim()
    .split('\n')
    .map((l) => parse(l));
  expect(states.at(-1)).toMatchObject({
    id,
    state: 'seeding',
    left: 0,
    total_bytes: t.meta.totalLength,
    metadata_pending: false,
  });
  expect(sameBytes(join(dir, 'out-b', 'film.bin'), content)).toBe(true);

  const list = await btctl(['torrent', 'list', '--node', b.addr]);
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(/abababababab\s+nobody has this\s+fetching-metadata\s+-/);
  const show = await btctl(['torrent', 'show', nobody, '--node', b.addr]);
  expect(show.stdout).toMatch(/state\s+fetching-metadata/);
  expect(show.stdout).toMatch(/size\s+unknown until the metadata arrives/);

  // aria2c: a magnet whose only source is agent A's tracker endpoint.
  const out = join(dir, 'aria-out');
  const viaTracker = formatMagnet({
    infoHash: t.meta.infoHash,
    trackers: [`http://${a.addr}/announce`],
  });
  const aria = new Proc('aria2c', [
    ...aria2cArgs(await freePort()),
    '--seed-time=0',
    '--bt-save-metadata=false',
    '-d',
    out,
    viaTracker,
  ]);
  procs.push(aria);
  expect(await exitCode(aria, 40_000)).toBe(0);
  expect(sameBytes(join(out, 'film.bin'), content)).toBe(true);

  // The fetched metadata is kept in B's data dir (raw info bytes: same info hash)...
  const kept = join(bData, 'torrents', `${id}.torrent`);
  expect(existsSync(kept)).toBe(true);
  expect(parseMetainfo(readFileSync(kept)).infoHashHex).toBe(id);
  // ... so B, restarted with no peer and no bootstrap at all, has the torrent complete.
  await b.stop();
  await a.stop();
  const b2 = await agent('127.0.0.2', bData);
  const again = await btctl(['torrent', 'show', id, '--node', b2.addr, '--json']);
  expect(again.code).toBe(0);
  const w2 = await run(BTCTL, ['torrent', 'watch', id, '--node', b2.addr, '--json'], {}, 20_000);
  expect(w2.code).toBe(0);
  expect(parse(w2.stdout.trim().split('\n').at(-1)!)).toMatchObject({
    state: 'seeding',
    metadata_pending: false,
    total_bytes: t.meta.totalLength,
  });
  const l2 = await btctl(['torrent', 'list', '--node', b2.addr, '--json']);
  const byId = new Map(
    (parse(l2.stdout)['torrents'] as { id: string; state: string }[]).map((x) => [x.id, x.state]),
  );
  expect(byId.get('ab'.repeat(20))).toBe('fetching-metadata');
});
