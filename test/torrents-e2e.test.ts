/**
 * Torrents inside real agents (real processes on 127.0.0.x, btctl, gossip), no tracker
 * anywhere: peers are found through the overlay only.
 *
 * - A seeds (Add with the data present); B and C Add the same torrent with overlay
 *   discovery, complete with identical bytes, and every agent's Lookup lists A, B and C
 *   with left = 0. Removing the torrent on C (and stopping B) withdraws their records from
 *   every agent's Lookup within 2 s.
 * - An agent killed with SIGKILL mid-download comes back from its --data-dir, resumes
 *   without requesting a piece that was already on disk, and completes.
 * - Tracker and both modes: an agent outside the cluster downloads by tracker alone from
 *   an agent that announces to the tracker and the overlay (`both`).
 */
import { jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../control/client.js';
import { connectTorrents } from '../control/torrent-client.js';
import { TrackerServer } from '../agent/torrent/tracker-server.js';
import {
  BTCTL,
  btctl,
  eventually,
  run,
  startTorrentAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import {
  makeTorrent,
  piecesOnDisk,
  randomFile,
  removeTemps,
  sameBytes,
  tmp,
} from './torrent/helpers.js';
import { TestPeer } from './torrent/test-peer.js';

jest.setTimeout(120_000);

const agents: AgentProcess[] = [];
const peers: TestPeer[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop(2000)));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});
afterAll(() => removeTemps());

/** Starts a torrent-running agent (see startTorrentAgent), stopped after the tests. */
async function agent(host: string, dataDir: string, bootstrap?: string): Promise<AgentProcess> {
  const a = await startTorrentAgent(host, dataDir, { bootstrap });
  agents.push(a);
  return a;
}

function parse(out: string): Record<string, unknown> {
  return JSON.parse(out) as Record<string, unknown>;
}

/** `btctl torrent show --json` → the torrent. */
async function show(node: string, id: string): Promise<Record<string, unknown>> {
  const r = await btctl(['torrent', 'show', id, '--node', node, '--json']);
  expect(r.code).toBe(0);
  return parse(r.stdout)['torrent'] as Record<string, unknown>;
}

/** Live providers of `id` on `node`: addr → left. */
async function providers(node: string, id: string): Promise<Map<string, number>> {
  const c = connect(node);
  try {
    const list = await c.lookup(Buffer.from(id, 'hex'), 100);
    return new Map(list.map((p) => [p.addr, Number(p.left)]));
  } finally {
    c.close();
  }
}

/** `btctl torrent watch` until complete; resolves with its exit code and output. */
function watch(node: string, id: string): Promise<{ code: number; stdout: string }> {
  return run(BTCTL, ['torrent', 'watch', id, '--node', node, '--json'], {}, 90_000);
}

it('three agents: one seeds, two download through the overlay only, all are listed; rm withdraws', async () => {
  const dir = tmp('bt-e2e-');
  const content = randomFile(join(dir, 'seed'), 'payload.bin', 6 * 1024 * 1024 + 4321);
  const t = await makeTorrent(content, 65536, join(dir, 'payload.torrent'));
  expect(t.meta.announceTiers).toEqual([]); // no tracker anywhere
  const id = t.meta.infoHashHex;

  const a = await agent('127.0.0.1', join(dir, 'a'));
  const [b, c] = await Promise.all([
    agent('127.0.0.2', join(dir, 'b'), a.addr),
    agent('127.0.0.3', join(dir, 'c'), a.addr),
  ]);

  // A seeds: its data is already in the save directory.
  const addA = await btctl([
    'torrent',
    'add',
    t.path,
    '--dir',
    join(dir, 'seed'),
    '--node',
    a.addr,
    '--json',
  ]);
  expect(addA.code).toBe(0);
  expect(parse(addA.stdout)['torrent']).toMatchObject({ id, discovery: 'overlay' });
  expect((await watch(a.addr, id)).code).toBe(0);
  expect(await show(a.addr, id)).toMatchObject({ state: 'seeding', left: 0 });

  // B and C: overlay discovery only (the default), each into its own directory.
  for (const [x, out] of [
    [b, 'out-b'],
    [c, 'out-c'],
  ] as const) {
    const r = await btctl([
      'torrent',
      'add',
      t.path,
      '--dir',
      join(dir, out),
      '--discovery',
      'overlay',
      '--node',
      x.addr,
    ]);
    expect(r.code).toBe(0);
  }
  const [wb, wc] = await Promise.all([watch(b.addr, id), watch(c.addr, id)]);
  expect(wb.code).toBe(0);
  expect(wc.code).toBe(0);
  const last = wb.stdout.trim().split('\n').pop()!;
  expect(parse(last)).toMatchObject({ id, left: 0, state: 'seeding' });
  expect(sameBytes(join(dir, 'out-b', 'payload.bin'), content)).toBe(true);
  expect(sameBytes(join(dir, 'out-c', 'payload.bin'), content)).toBe(true);

  // Every agent's Lookup lists A, B and C as seeders (left = 0).
  const addr = {
    a: String((await show(a.addr, id))['provider_addr']),
    b: String((await show(b.addr, id))['provider_addr']),
    c: String((await show(c.addr, id))['provider_addr']),
  };
  expect(addr.a).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(addr.b).toMatch(/^127\.0\.0\.2:\d+$/);
  expect(addr.c).toMatch(/^127\.0\.0\.3:\d+$/);
  const want = [addr.a, addr.b, addr.c].sort();
  for (const x of [a, b, c]) {
    const ok = await eventually(async () => {
      const p = await providers(x.addr, id);
      return (
        JSON.stringify([...p.keys()].sort()) === JSON.stringify(want) &&
        [...p.values()].every((left) => left === 0)
      );
    }, 10_000);
    expect(ok).toBe(true);
    const r = await btctl(['lookup', id, '--node', x.addr, '--json']);
    expect(r.code).toBe(0);
    const listed = (parse(r.stdout)['providers'] as { addr: string; left: number }[]).map(
      (p) => `${p.addr} ${p.left}`,
    );
    expect(listed.sort()).toEqual(want.map((w) => `${w} 0`));
  }

  // Remove on C: within 2 s no agent lists C.
  const t0 = Date.now();
  const rm = await btctl(['torrent', 'rm', id, '--node', c.addr, '--delete-data']);
  expect(rm.code).toBe(0);
  const gone = (who: string): Promise<boolean> =>
    eventually(async () => {
      for (const x of [a, b, c]) if ((await providers(x.addr, id)).has(who)) return false;
      return true;
    }, 2000);
  expect(await gone(addr.c)).toBe(true);
  expect(Date.now() - t0).toBeLessThan(2000 + 1500); // btctl's own start-up is ~0.5-1 s
  expect(existsSync(join(dir, 'out-c', 'payload.bin'))).toBe(false);
  expect((await btctl(['torrent', 'list', '--node', c.addr, '--json'])).stdout).toContain(
    '"torrents": []',
  );

  // A graceful stop withdraws too: B leaves, A and C stop listing it.
  await b.stop();
  const ok = await eventually(async () => {
    for (const x of [a, c]) if ((await providers(x.addr, id)).has(addr.b)) return false;
    return true;
  }, 2000);
  expect(ok).toBe(true);
  expect([...(await providers(a.addr, id)).keys()]).toEqual([addr.a]);
});

it('an agent killed mid-download resumes from its data dir and requests no piece it had', async () => {
  const dir = tmp('bt-e2e-');
  const content = randomFile(join(dir, 'seed'), 'slow.bin', 8 * 1024 * 1024 + 99);
  const t = await makeTorrent(content, 32768, join(dir, 'slow.torrent'));
  const id = t.meta.infoHashHex;

  // A throttled seeder (~2 MB/s) that logs every request, registered in the overlay on A.
  const seeder = new TestPeer(t.meta, content, { blockDelayMs: 8 });
  peers.push(seeder);
  const port = await seeder.listen();
  const a = await agent('127.0.0.1', join(dir, 'a'));
  const ann = await btctl([
    'announce',
    id,
    '--addr',
    `127.0.0.1:${port}`,
    '--left',
    '0',
    '--node',
    a.addr,
  ]);
  expect(ann.code).toBe(0);

  const bData = join(dir, 'b');
  const out = join(dir, 'out');
  const b1 = await agent('127.0.0.2', bData, a.addr);
  expect((await btctl(['torrent', 'add', t.path, '--dir', out, '--node', b1.addr])).code).toBe(0);
  const tc = connectTorrents(b1.addr);
  try {
    const mid = await eventually(async () => (await tc.get(id)).piecesVerified >= 20, 30_000, 50);
    expect(mid).toBe(true);
  } finally {
    tc.close();
  }
  b1.child.kill('SIGKILL');
  await b1.exited;
  const before = seeder.requests.length;

  // What is on disk, judged independently of the agent's resume journal.
  const onDisk = piecesOnDisk(t.meta, join(out, 'slow.bin'));
  expect(onDisk.size).toBeGreaterThanOrEqual(20);
  expect(onDisk.size).toBeLessThan(t.meta.pieceCount);

  // Same data dir, new process: the torrent comes back by itself and completes.
  const b2 = await agent('127.0.0.2', bData, a.addr);
  const list = await btctl(['torrent', 'list', '--node', b2.addr, '--json']);
  expect((parse(list.stdout)['torrents'] as { id: string }[]).map((x) => x.id)).toEqual([id]);
  const w = await watch(b2.addr, id);
  expect(w.code).toBe(0);
  expect(sameBytes(join(out, 'slow.bin'), content)).toBe(true);
  const again = seeder.requests.slice(before).filter((r) => onDisk.has(r.piece));
  expect(again).toEqual([]);
  const fetched = new Set(seeder.requests.slice(before).map((r) => r.piece));
  expect(fetched.size).toBe(t.meta.pieceCount - onDisk.size);
});

it('tracker mode: an agent outside the cluster finds a `both` seeder through the tracker only', async () => {
  const tracker = new TrackerServer({ intervalSec: 5 });
  const url = await tracker.listen();
  try {
    const dir = tmp('bt-e2e-');
    const content = randomFile(join(dir, 'seed'), 'tr.bin', 2 * 1024 * 1024 + 7);
    const t = await makeTorrent(content, 32768, join(dir, 'tr.torrent'), url);
    const id = t.meta.infoHashHex;
    // Two separate agents (no bootstrap): the overlay cannot connect them.
    const a = await agent('127.0.0.1', join(dir, 'a'));
    const b = await agent('127.0.0.1', join(dir, 'b'));
    const add = (node: string, sub: string, mode: string): Promise<{ code: number }> =>
      btctl([
        'torrent',
        'add',
        t.path,
        '--dir',
        join(dir, sub),
        '--discovery',
        mode,
        '--node',
        node,
      ]);
    expect((await add(a.addr, 'seed', 'both')).code).toBe(0);
    expect((await watch(a.addr, id)).code).toBe(0);
    const aAddr = String((await show(a.addr, id))['provider_addr']);
    // `both`: announced to the overlay and to the tracker, with the shared peer-wire port.
    expect([...(await providers(a.addr, id)).keys()]).toEqual([aAddr]);
    const aPort = Number(aAddr.split(':')[1]);
    expect(
      await eventually(() => tracker.events.some((e) => e.port === aPort && e.left === 0), 10_000),
    ).toBe(true);

    expect((await add(b.addr, 'out', 'tracker')).code).toBe(0);
    expect((await watch(b.addr, id)).code).toBe(0);
    expect(sameBytes(join(dir, 'out', 'tr.bin'), content)).toBe(true);
    expect(await show(b.addr, id)).toMatchObject({ discovery: 'tracker', left: 0 });
    // Tracker only: B announced nothing to the overlay.
    expect((await providers(b.addr, id)).size).toBe(0);
    expect(tracker.events.some((e) => e.event === 'completed')).toBe(true);
  } finally {
    await tracker.close();
  }
});
