import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { CLUSTER_KEY_FILE, loadOrCreateClusterKey } from './cluster-key-file.js';
import { parseClusterKeys } from './cluster-key.js';
import { buildSecurityConfig } from './config.js';

describe('the generated cluster key', () => {
  let root: string;
  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'cluster-key-file-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is created 0600 in a 0700 data dir on first start, in the format --cluster-key reads, then kept', () => {
    const dir = join(root, 'data');
    const first = loadOrCreateClusterKey(dir);
    expect(first.created).toBe(true);
    expect(first.path).toBe(join(dir, CLUSTER_KEY_FILE));
    expect(statSync(first.path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // Another agent given the file as --cluster-key derives the same key id.
    expect(parseClusterKeys(readFileSync(first.path, 'utf8')).primary.id).toBe(
      first.keys.primary.id,
    );
    const again = loadOrCreateClusterKey(dir);
    expect(again).toMatchObject({ created: false, path: first.path });
    expect(again.keys.primary.id).toBe(first.keys.primary.id);
    expect(again.looseMode).toBeUndefined();
  });

  it('refuses a key file it cannot use rather than replacing it, and notes a loose mode', () => {
    const file = join(root, CLUSTER_KEY_FILE);
    writeFileSync(file, 'short\n');
    expect(() => loadOrCreateClusterKey(root)).toThrow(ConfigError);
    expect(readFileSync(file, 'utf8')).toBe('short\n');
    writeFileSync(file, `${'c'.repeat(64)}\n`, { mode: 0o644 });
    expect(loadOrCreateClusterKey(root).looseMode).toBe(0o644);
  });
});

describe('cluster key flags', () => {
  it('default: generate in the resolved data dir; --no-cluster-key: off; --cluster-key FILE: file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-key-flags-'));
    try {
      const key = join(dir, 'k');
      writeFileSync(key, `${'d'.repeat(64)}\n`);
      expect(buildSecurityConfig({ dataDir: dir })).toMatchObject({
        clusterKeyMode: 'generate',
        identityDir: dir,
      });
      expect(buildSecurityConfig({ clusterKey: false }).clusterKeyMode).toBe('off');
      expect(buildSecurityConfig({ clusterKey: key }).clusterKeyMode).toBe('file');
      expect(() => buildSecurityConfig({ clusterKey: false, clusterKeyOld: key })).toThrow(
        /--cluster-key-old/,
      );
      expect(() => buildSecurityConfig({ legacySources: '10.0.0.0/33' })).toThrow(
        /--legacy-sources/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
