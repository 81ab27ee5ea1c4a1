import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  removeStaleTemps,
  removeStaleTempsSync,
  TEMP_MARK,
  writeFileAtomic,
  writeFileAtomicSync,
} from './index.js';

describe('atomic writes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bto-atomic-'));

  it('replaces a file whole, with the given mode, leaving no temp file', async () => {
    const p = join(dir, 'settings.json');
    writeFileSync(p, 'old');
    writeFileAtomicSync(p, 'new-sync', { mode: 0o600 });
    expect(readFileSync(p, 'utf8')).toBe('new-sync');
    expect(statSync(p).mode & 0o777).toBe(0o600);
    await writeFileAtomic(p, Buffer.from('new-async'));
    expect(readFileSync(p, 'utf8')).toBe('new-async');
    expect(readdirSync(dir).filter((n) => n.includes(TEMP_MARK))).toEqual([]);
  });

  it('removes the temp files a crash left behind, and nothing else', async () => {
    const d = mkdtempSync(join(tmpdir(), 'bto-atomic-'));
    writeFileSync(join(d, 'keep'), 'x');
    writeFileSync(join(d, `keep${TEMP_MARK}123-abcd`), 'torn');
    expect(removeStaleTempsSync(d)).toEqual([`keep${TEMP_MARK}123-abcd`]);
    writeFileSync(join(d, `other${TEMP_MARK}9-ffff`), 'torn');
    expect(await removeStaleTemps(d)).toEqual([`other${TEMP_MARK}9-ffff`]);
    expect(readdirSync(d)).toEqual(['keep']);
    expect(removeStaleTempsSync(join(d, 'missing'))).toEqual([]);
  });

  it('fails without touching the target when the directory is missing', () => {
    expect(() => writeFileAtomicSync(join(dir, 'no', 'such'), 'x')).toThrow(/ENOENT/);
  });
});
