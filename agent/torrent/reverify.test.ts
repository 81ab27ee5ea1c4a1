import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrent } from './create.js';
import { parseMetainfo } from './metainfo.js';
import { readResumeJournal, ResumeJournal } from './resume.js';
import { SuspectPieces } from './reverify.js';
import { createTorrentSession } from './session.js';

const PIECE = 16 * 1024;
const PIECES = 24;

async function until(f: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('SuspectPieces', () => {
  it('checks a piece before it is served, once, one at a time, and reports a bad one', async () => {
    const checked: number[] = [];
    const bad: number[] = [];
    let running = 0;
    const s = new SuspectPieces(
      [1, 2, 3],
      8,
      async (i) => {
        expect(++running).toBe(1);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        checked.push(i);
        return i !== 2;
      },
      (i) => bad.push(i),
      () => false,
    );
    const [a, b, a2] = await Promise.all([s.verify(3), s.verify(2), s.verify(3)]);
    expect([a, b, a2]).toEqual([true, false, true]);
    expect(await s.verify(7)).toBe(true); // never suspect
    await s.sweep();
    expect(checked).toEqual([3, 2, 1]);
    expect(bad).toEqual([2]);
    expect(s.size).toBe(0);
  });
});

describe('lazy re-verify after an unclean stop', () => {
  it.each([false, true])(
    'drops a journalled piece whose data does not hash, fetches it again (paused: %s)',
    async (paused) => {
      const root = mkdtempSync(join(tmpdir(), 'bto-reverify-'));
      const content = randomBytes(PIECE * PIECES - 1000);
      mkdirSync(join(root, 'seed'));
      mkdirSync(join(root, 'leech'));
      const src = join(root, 'seed', 'data.bin');
      writeWhole(src, content);
      const meta = parseMetainfo(await createTorrent({ path: src, pieceLength: PIECE }));
      const seed = createTorrentSession({
        metainfo: meta,
        dir: join(root, 'seed'),
        listen: { host: '127.0.0.1', port: 0 },
        stateDir: null,
        check: 'full',
        useTrackers: false,
      });
      await seed.start();
      // The leecher's last run: every piece on disk and journalled, then killed (journal OPEN).
      const dst = join(root, 'leech', 'data.bin');
      copyFileSync(src, dst);
      const stateDir = join(root, 'state');
      const last = ResumeJournal.open(stateDir, meta.infoHash, meta.pieceCount);
      for (let i = 0; i < meta.pieceCount; i++) last.journal.record(i);
      await last.journal.flush();
      // ...and piece 5 rotted on disk.
      const fd = openSync(dst, 'r+');
      writeSync(fd, Buffer.alloc(100, 0xee), 0, 100, 5 * PIECE + 7);
      closeSync(fd);
      const leech = createTorrentSession({
        metainfo: meta,
        dir: join(root, 'leech'),
        listen: { host: '127.0.0.1', port: 0 },
        stateDir,
        check: 'resume',
        keepResumeState: true,
        startPaused: paused,
        useTrackers: false,
      });
      const dropped: number[] = [];
      leech.on('piece-dropped', (i) => dropped.push(i));
      // Whether the data was right each time the session called itself complete.
      const completedWith: boolean[] = [];
      leech.on('complete', () => completedWith.push(readFileSync(dst).equals(content)));
      await leech.start();
      try {
        // Trusted at once (no re-download), then the sweep finds piece 5 wrong.
        await until(() => leech.progress().hashFailures === 1, 5000, 're-verify');
        expect(leech.verifiedPieces().has(5)).toBe(false);
        expect(leech.progress().piecesVerified).toBe(meta.pieceCount - 1);
        expect(dropped).toEqual([5]);
        await until(
          () =>
            readResumeJournal(
              ResumeJournal.pathFor(stateDir, meta.infoHashHex),
              meta.infoHash,
              meta.pieceCount,
            )?.pieces.has(5) === false,
          5000,
          'journal drops piece 5',
        );
        leech.resume(); // a no-op unless paused
        leech.addPeers([{ host: '127.0.0.1', port: seed.port }]);
        await until(() => leech.complete, 10_000, 'piece 5 fetched again');
        // Never complete (seeding, `watch` done) on the journal's word alone.
        await until(() => completedWith.length > 0, 5000, 'complete');
        expect(completedWith).toEqual([true]);
        await leech.stop();
        expect(readFileSync(dst).equals(content)).toBe(true);
        const after = readResumeJournal(
          ResumeJournal.pathFor(stateDir, meta.infoHashHex),
          meta.infoHash,
          meta.pieceCount,
        )!;
        expect(after.clean).toBe(true);
        expect(after.pieces.size).toBe(meta.pieceCount);
      } finally {
        await leech.stop();
        await seed.stop();
      }
    },
  );
});

function writeWhole(p: string, b: Buffer): void {
  const fd = openSync(p, 'w');
  writeSync(fd, b);
  closeSync(fd);
}
