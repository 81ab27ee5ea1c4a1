import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IDENTITY_FILE, loadOrCreateIdentity } from './identity.js';

describe('loadOrCreateIdentity', () => {
  it('creates the key once (0600, no temp left) and loads the same one after', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'bto-id-')), 'data');
    const a = loadOrCreateIdentity(dir);
    expect(a.created).toBe(true);
    expect(statSync(join(dir, IDENTITY_FILE)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([IDENTITY_FILE]);
    const b = loadOrCreateIdentity(dir);
    expect(b.created).toBe(false);
    expect(b.publicKey.equals(a.publicKey)).toBe(true);
  });

  it('refuses a file that holds no key instead of replacing it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bto-id-'));
    writeFileSync(join(dir, IDENTITY_FILE), 'not a key', { mode: 0o600 });
    expect(() => loadOrCreateIdentity(dir)).toThrow();
  });
});
