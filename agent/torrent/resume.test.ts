import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEMP_MARK } from '../fs/index.js';
import { readResumeJournal, ResumeJournal } from './resume.js';

const HASH = Buffer.alloc(20, 0xab);

function gate(): { wait: () => Promise<void>; open: () => void; calls: number } {
  let release: () => void = () => undefined;
  let p = new Promise<void>((r) => (release = r));
  const g = {
    calls: 0,
    wait: () => {
      g.calls++;
      return p;
    },
    open: () => {
      release();
      p = Promise.resolve();
    },
  };
  return g;
}

describe('ResumeJournal', () => {
  it('appends a piece only after its data was synced, one sync per batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bto-resume-'));
    const g = gate();
    const { journal, verified, clean } = ResumeJournal.open(dir, HASH, 100, { syncData: g.wait });
    expect(verified).toEqual([]);
    expect(clean).toBe(true);
    journal.record(4);
    journal.record(9);
    await new Promise((r) => setTimeout(r, 20));
    // The sync has not returned: nothing on disk names pieces 4 or 9 yet.
    expect([...readResumeJournal(journal.path, HASH, 100)!.pieces]).toEqual([]);
    g.open();
    await journal.flush();
    expect([...readResumeJournal(journal.path, HASH, 100)!.pieces].sort()).toEqual([4, 9]);
    expect(g.calls).toBeLessThanOrEqual(2);
    // Killed here (no close): the next open says so and lists what was appended.
    const again = ResumeJournal.open(dir, HASH, 100);
    expect(again.clean).toBe(false);
    expect(again.verified).toEqual([4, 9]);
    again.journal.drop(4);
    await again.journal.close();
    const third = ResumeJournal.open(dir, HASH, 100);
    expect(third.clean).toBe(true);
    expect(third.verified).toEqual([9]);
    await third.journal.close(true);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('ignores a zero-filled or torn tail and old-format journals are not trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bto-resume-'));
    const { journal } = ResumeJournal.open(dir, HASH, 100);
    journal.record(7);
    await journal.flush();
    // A power cut can leave the file extended with zeros, or half a record.
    writeFileSync(
      journal.path,
      Buffer.concat([readFileSync(journal.path), Buffer.alloc(8), Buffer.from([0, 0, 0])]),
    );
    await journal.close(); // rewritten whole: clean
    const again = ResumeJournal.open(dir, HASH, 100);
    expect(again.verified).toEqual([7]);
    await again.journal.close(true);
    // BTORESM1 (pid-era, data not synced first): read, but as an unclean stop.
    const v1 = Buffer.concat([Buffer.from('BTORESM1', 'latin1'), HASH, Buffer.from([0, 0, 0, 3])]);
    writeFileSync(ResumeJournal.pathFor(dir, HASH.toString('hex')), v1);
    writeFileSync(join(dir, `${HASH.toString('hex')}.resume${TEMP_MARK}1-ab`), 'crash leftover');
    const old = ResumeJournal.open(dir, HASH, 100);
    expect(old.verified).toEqual([3]);
    expect(old.clean).toBe(false);
    expect(readdirSync(dir)).toEqual([`${HASH.toString('hex')}.resume`]);
    await old.journal.close(true);
  });
});
