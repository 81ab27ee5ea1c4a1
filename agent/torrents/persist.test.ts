import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrent } from '../torrent/create.js';
import { parseMetainfo } from '../torrent/metainfo.js';
import { TEMP_MARK } from '../fs/index.js';
import { TorrentStateDir, type TorrentEntry } from './persist.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bt-persist-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function torrentBytes(): Promise<Buffer> {
  const f = join(dir, 'content.bin');
  writeFileSync(f, Buffer.alloc(40_000, 7));
  return createTorrent({ path: f, pieceLength: 16384 });
}

describe('TorrentStateDir', () => {
  it('creates nothing until used, then round-trips torrents in the order added', async () => {
    const s = new TorrentStateDir(join(dir, 'data'));
    expect(s.hasTorrents()).toBe(false);
    expect(existsSync(join(dir, 'data'))).toBe(false);
    const raw = await torrentBytes();
    const id = parseMetainfo(raw).infoHashHex;
    const e: TorrentEntry = {
      id,
      saveDir: '/srv/x',
      discovery: 'both',
      paused: true,
      addedAt: 5,
      completedAt: 0,
    };
    s.create(e, raw);
    e.completedAt = 9;
    s.save(e);
    const loaded = s.load(() => undefined);
    expect(loaded).toHaveLength(1);
    expect(loaded[0]!.entry).toEqual({ ...e });
    expect(loaded[0]!.meta!.infoHashHex).toBe(id);
    s.remove(id);
    expect(s.load(() => undefined)).toEqual([]);
  });

  it('keeps a magnet link without metadata, and its metadata once saved', async () => {
    const s = new TorrentStateDir(dir);
    const raw = await torrentBytes();
    const id = parseMetainfo(raw).infoHashHex;
    const e: TorrentEntry = {
      id,
      saveDir: '/x',
      discovery: 'overlay',
      paused: false,
      addedAt: 1,
      completedAt: 0,
      magnet: `magnet:?xt=urn:btih:${id}&dn=x`,
    };
    s.create(e, null);
    expect(existsSync(join(s.torrentsDir, `${id}.torrent`))).toBe(false);
    expect(s.load(() => undefined)).toEqual([{ entry: e, meta: null }]);
    s.saveTorrent(id, raw);
    const [l] = s.load(() => undefined);
    expect(l!.entry).toEqual(e);
    expect(l!.meta!.infoHashHex).toBe(id);
  });

  it('skips unreadable state instead of failing', async () => {
    const s = new TorrentStateDir(dir);
    const raw = await torrentBytes();
    const id = parseMetainfo(raw).infoHashHex;
    s.create(
      { id, saveDir: '/x', discovery: 'overlay', paused: false, addedAt: 1, completedAt: 0 },
      raw,
    );
    writeFileSync(join(s.torrentsDir, `${'0'.repeat(40)}.json`), '{not json');
    writeFileSync(
      join(s.torrentsDir, `${'1'.repeat(40)}.json`),
      readFileSync(join(s.torrentsDir, `${id}.json`)),
    );
    const bad: string[] = [];
    const loaded = s.load((f) => bad.push(f));
    expect(loaded.map((l) => l.entry.id)).toEqual([id]);
    expect(bad.sort()).toEqual([`${'0'.repeat(40)}.json`, `${'1'.repeat(40)}.json`]);
  });

  it('removes the temp files a crash left in its directories, and nothing else', () => {
    const s = new TorrentStateDir(dir);
    const id = 'c'.repeat(40);
    s.create(
      { id, saveDir: '', discovery: 'both', paused: false, addedAt: 1, completedAt: 0 },
      null,
    );
    mkdirSync(s.resumeDir, { recursive: true });
    writeFileSync(join(s.torrentsDir, `${id}.json${TEMP_MARK}1-ab`), '{"torn');
    writeFileSync(join(s.resumeDir, `${id}.resume${TEMP_MARK}1-cd`), 'x');
    expect(s.removeStaleTemps().sort()).toEqual([
      join(s.resumeDir, `${id}.resume${TEMP_MARK}1-cd`),
      join(s.torrentsDir, `${id}.json${TEMP_MARK}1-ab`),
    ]);
    expect(s.has(id)).toBe(true);
  });
});
