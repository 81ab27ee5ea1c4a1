/**
 * `btctl torrent …` argument handling: exit 2 and a message naming the bad argument, both
 * for what btctl checks itself and for what the agent refuses (INVALID_ARGUMENT); exit 1
 * for a torrent the agent does not have.
 */
import { jest } from '@jest/globals';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTorrent } from '../agent/torrent/create.js';
import { encodeMetainfo } from '../agent/torrent/metainfo.js';
import bencode from 'bencode';
import { btctl, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { makeTorrent, randomFile, removeTemps, tmp } from './torrent/helpers.js';

jest.setTimeout(60_000);

let agent: AgentProcess;
let dir: string;
let good: string;
beforeAll(async () => {
  dir = tmp('bt-tcli-');
  good = (await makeTorrent(randomFile(dir, 'x.bin', 70_000), 16384, join(dir, 'x.torrent'))).path;
  agent = await startAgent(['--peer-port', '0', '--data-dir', join(dir, 'data')]);
  // Inside the default download root (<data-dir>/downloads), a symlink leading out of it.
  mkdirSync(join(dir, 'data', 'downloads'), { recursive: true });
  symlinkSync(dir, join(dir, 'data', 'downloads', 'link'));
});
afterAll(async () => {
  await agent.stop();
  removeTemps();
});

it.each([
  [['torrent', 'add', 'MISSING'], '<file.torrent|magnet>'],
  [['torrent', 'add', 'magnet:?xt=urn:btih:' + 'a'.repeat(39)], '<file.torrent|magnet>'],
  [['torrent', 'add', `magnet:?xt=urn:btmh:1220${'b'.repeat(64)}`], 'v2 info hash'],
  [
    ['torrent', 'add', `magnet:?xt=urn:btih:${'a'.repeat(40)}&tr=not%20a%20url`],
    'INVALID_ARGUMENT: magnet: tr:',
  ],
  [
    ['torrent', 'add', `magnet:?xt=urn:btih:${'a'.repeat(40)}&x.pe=nohost`],
    'INVALID_ARGUMENT: magnet: x.pe:',
  ],
  [
    ['torrent', 'add', `magnet:?xt=urn:btih:${'a'.repeat(40)}`, '--discovery', 'tracker'],
    'INVALID_ARGUMENT: discovery:',
  ],
  [['torrent', 'add', 'GOOD', '--discovery', 'dht'], '--discovery'],
  [['torrent', 'show', 'xyz'], '<id|infohash>'],
  [['torrent', 'rm', 'abc'], '<id>'],
  [['torrent', 'watch', 'g'.repeat(40)], '<id>'],
  [['torrent', 'list', '--node', 'nohost'], '--node'],
  [['torrent', 'add', 'BAD'], 'INVALID_ARGUMENT: torrent:'],
  [['torrent', 'add', 'PRIVATE'], 'INVALID_ARGUMENT: discovery:'],
  [['torrent', 'add', 'GOOD', '--dir', 'OUTSIDE', '--paused'], 'INVALID_ARGUMENT: save_dir:'],
  [['torrent', 'add', 'GOOD', '--dir', '../../escape', '--paused'], 'INVALID_ARGUMENT: save_dir:'],
  [['torrent', 'add', 'GOOD', '--dir', 'link/x', '--paused'], 'INVALID_ARGUMENT: save_dir:'],
  [['torrent', 'add', 'GOOD', '--dir', ''], '--dir'],
])('%j exits 2 naming %s', async (args, name) => {
  const bad = join(dir, 'bad.torrent');
  writeFileSync(bad, 'd4:infod4:name1:xee');
  const raw = bencode.decode(
    await createTorrent({ path: join(dir, 'x.bin'), pieceLength: 16384 }),
  ) as Record<string, Record<string, unknown>>;
  raw['info']!['private'] = 1; // BEP 27
  const priv = join(dir, 'private.torrent');
  writeFileSync(priv, encodeMetainfo(raw));
  const subst = args.map((a) =>
    a === 'MISSING'
      ? join(dir, 'missing.torrent')
      : a === 'GOOD'
        ? good
        : a === 'BAD'
          ? bad
          : a === 'PRIVATE'
            ? priv
            : a === 'OUTSIDE'
              ? join(dir, 'elsewhere')
              : a,
  );
  const hasNode = subst.includes('--node');
  const r = await btctl([...subst, ...(hasNode ? [] : ['--node', agent.addr])]);
  expect(r.stderr).toContain(name);
  expect(r.code).toBe(2);
});

it('reports a torrent the agent does not have with exit 1', async () => {
  const r = await btctl(['torrent', 'show', 'abcd', '--node', agent.addr]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('NOT_FOUND');
});

it('save dirs resolve under the download root; the refused ones create nothing', async () => {
  const r = await btctl([
    'torrent',
    'add',
    good,
    '--dir',
    'sub/dir',
    '--paused',
    '--json',
    '--node',
    agent.addr,
  ]);
  expect(r.code).toBe(0);
  const t = (JSON.parse(r.stdout) as { torrent: { id: string; save_dir: string } }).torrent;
  expect(t.save_dir).toBe(join(dir, 'data', 'downloads', 'sub', 'dir'));
  expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
  expect(existsSync(join(dir, 'escape'))).toBe(false);
  expect((await btctl(['torrent', 'rm', t.id, '--node', agent.addr])).code).toBe(0);
});

it('--allow-any-save-dir: the operator lets Add write to any absolute directory', async () => {
  const any = await startAgent([
    '--peer-port',
    '0',
    '--data-dir',
    join(dir, 'data-any'),
    '--allow-any-save-dir',
  ]);
  try {
    const out = join(dir, 'anywhere');
    const r = await btctl([
      'torrent',
      'add',
      good,
      '--dir',
      out,
      '--paused',
      '--json',
      '--node',
      any.addr,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ torrent: { save_dir: out } });
  } finally {
    await any.stop();
  }
});
