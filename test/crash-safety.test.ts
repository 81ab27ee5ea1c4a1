/**
 * Nothing lost on a crash (issue 12 item 6), with real agents: a downloading agent is
 * killed with SIGKILL at random moments, while it writes pieces, its resume journal and
 * (pause/resume) its settings, and restarted on the same data dir each time. After every
 * kill: every piece the journal lists hashes right on disk, and no temp file survives the
 * restart. After every restart: the torrent is loaded from its settings, the stale LOCK is
 * taken over, and no piece the journal listed is requested again (nothing verified lost),
 * except one we corrupt on disk, which the agent re-verifies (the journal was left OPEN),
 * drops and fetches again. At the end the bytes are identical, and a fresh agent that can
 * download only from the restarted one gets identical bytes (nothing corrupt served).
 */
import { jest } from '@jest/globals';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectTorrents } from '../control/torrent-client.js';
import { TEMP_MARK } from '../agent/fs/index.js';
import { readResumeJournal, ResumeJournal } from '../agent/torrent/resume.js';
import { BTCTL, btctl, eventually, run, startTorrentAgent } from './helpers/agent-process.js';
import type { AgentProcess } from './helpers/agent-process.js';
import { makeTorrent, piecesOnDisk, randomFile, sameBytes } from './torrent/helpers.js';
import { TestPeer } from './torrent/test-peer.js';

jest.setTimeout(180_000);

/** Temp files (agent/fs's TEMP_MARK) anywhere under `dir`. */
/**
 * Temp files in `dir` left by a process other than `livePid`: the restarted
 * agent may be mid-way through an atomic write of its own (a journal rewrite
 * after dropping a bad piece), which is not a crash's leftover.
 */
function temps(dir: string, livePid?: number): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter(
    (n) => n.includes(TEMP_MARK) && !n.includes(`${TEMP_MARK}${livePid}-`),
  );
}

it('SIGKILL at random moments loses nothing verified and serves nothing corrupt', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bt-crash-'));
  const content = randomFile(join(dir, 'seed'), 'data.bin', 12 * 1024 * 1024 + 555);
  const t = await makeTorrent(content, 32768, join(dir, 'data.torrent'));
  const id = t.meta.infoHashHex;
  // A throttled seeder (~2 MB/s) that logs every request, registered in the overlay on A.
  const seeder = new TestPeer(t.meta, content, { blockDelayMs: 8 });
  const port = await seeder.listen();
  const running: AgentProcess[] = [];
  const start = async (host: string, data: string, bootstrap?: string) => {
    const p = await startTorrentAgent(host, data, { bootstrap });
    running.push(p);
    return p;
  };
  try {
    await killLoop();
  } finally {
    await Promise.all(running.map((p) => p.stop(2000)));
    await seeder.close();
    rmSync(dir, { recursive: true, force: true });
  }

  async function killLoop(): Promise<void> {
    const a = await start('127.0.0.1', join(dir, 'a'));
    const ann = ['announce', id, '--addr', `127.0.0.1:${port}`, '--left', '0', '--node', a.addr];
    expect((await btctl(ann)).code).toBe(0);

    const bData = join(dir, 'b');
    const out = join(dir, 'out');
    const file = join(out, 'data.bin');
    const journalPath = ResumeJournal.pathFor(join(bData, 'resume'), id);
    let b = await start('127.0.0.2', bData, a.addr);
    expect((await btctl(['torrent', 'add', t.path, '--dir', out, '--node', b.addr])).code).toBe(0);

    let corrupted = -1;
    for (let round = 0; round < 4; round++) {
      const tc = connectTorrents(b.addr);
      let churn = true;
      try {
        // Wait for progress, then churn the settings (pause/resume rewrite them) until the kill.
        const start = (await tc.get(id)).piecesVerified;
        expect(
          await eventually(async () => (await tc.get(id)).piecesVerified > start + 5, 30_000, 50),
        ).toBe(true);
        const churning = (async () => {
          while (churn) {
            await tc.pause(id).catch(() => undefined);
            await tc.resume(id).catch(() => undefined);
          }
        })();
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 900));
        b.child.kill('SIGKILL');
        await b.exited;
        churn = false;
        await churning;
      } finally {
        tc.close();
      }
      running.splice(running.indexOf(b), 1);

      // Every piece the journal lists is on disk and hashes right.
      const journal = readResumeJournal(journalPath, t.meta.infoHash, t.meta.pieceCount);
      expect(journal).toBeDefined();
      expect(journal!.clean).toBe(false); // killed: left OPEN
      const good = piecesOnDisk(t.meta, file);
      const listed = [...journal!.pieces];
      expect(listed.filter((i) => !good.has(i))).toEqual([]);
      expect(listed.length).toBeGreaterThan(0);
      const trusted = new Set(listed);
      if (round === 1) {
        // A piece the journal lists goes bad on disk (a lost write, a bad sector).
        corrupted = listed[Math.floor(listed.length / 2)]!;
        trusted.delete(corrupted);
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(512, 0x5a), 0, 512, corrupted * t.meta.pieceLength + 100);
        closeSync(fd);
      }
      const before = seeder.requests.length;

      // Same data dir, new process: the stale LOCK is taken over, settings load.
      b = await start('127.0.0.2', bData, a.addr);
      expect(temps(bData, b.child.pid)).toEqual([]);
      const list = await btctl(['torrent', 'list', '--node', b.addr, '--json']);
      expect(list.code).toBe(0);
      const loaded = (JSON.parse(list.stdout) as { torrents: { id: string; state: string }[] })
        .torrents;
      expect(loaded.map((x) => x.id)).toEqual([id]);
      if (loaded[0]!.state === 'paused') {
        const r = await btctl(['torrent', 'resume', id, '--node', b.addr]);
        expect(r.code).toBe(0);
      }
      if (round === 1) {
        expect(await eventually(() => seeder.piecesRequested().has(corrupted), 30_000)).toBe(true);
        const dropped = await b.waitForLog((l) => l.piece === corrupted, 5000);
        expect(dropped.msg).toMatch(/did not hash/);
      }
      // Nothing the journal listed (and still good) is fetched again.
      await new Promise((r) => setTimeout(r, 300));
      expect(seeder.requests.slice(before).filter((r) => trusted.has(r.piece))).toEqual([]);
    }

    // The last run completes; its bytes are the seeder's.
    const w = await run(BTCTL, ['torrent', 'watch', id, '--node', b.addr, '--json'], {}, 90_000);
    expect(w.code).toBe(0);
    expect(sameBytes(file, content)).toBe(true);

    // Only B has it now: a fresh agent downloads from B alone and gets identical bytes.
    await seeder.close();
    const c = await start('127.0.0.3', join(dir, 'c'), a.addr);
    const out2 = join(dir, 'out-c');
    expect((await btctl(['torrent', 'add', t.path, '--dir', out2, '--node', c.addr])).code).toBe(0);
    const wc = await run(BTCTL, ['torrent', 'watch', id, '--node', c.addr, '--json'], {}, 90_000);
    expect(wc.code).toBe(0);
    expect(sameBytes(join(out2, 'data.bin'), content)).toBe(true);
  }
});
