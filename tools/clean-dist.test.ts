import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../agent/paths.js';

describe('npm run build starts from an empty dist/', () => {
  it('removes dist/ (a moved file leaves no stale output) and incremental build info', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clean-dist-'));
    try {
      mkdirSync(join(dir, 'dist', 'agent', 'fs'), { recursive: true });
      writeFileSync(join(dir, 'dist', 'agent', 'fs', 'lock.js'), 'export {};\n');
      writeFileSync(join(dir, 'tsconfig.tsbuildinfo'), '{}');
      writeFileSync(join(dir, 'keep.ts'), '');
      const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'tools', 'clean-dist.js')], {
        cwd: dir,
      });
      expect(r.status).toBe(0);
      expect(existsSync(join(dir, 'dist'))).toBe(false);
      expect(existsSync(join(dir, 'tsconfig.tsbuildinfo'))).toBe(false);
      expect(existsSync(join(dir, 'keep.ts'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
