// `npm start` builds only when the compiled agent is missing or older than its sources,
// so a second start is instant and a fresh clone still works.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const newest = (dir) =>
  readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? newest(p) : statSync(p).mtimeMs;
    return Math.max(max, t);
  }, 0);

const target = 'dist/agent/main.js';
const sources = Math.max(newest('agent'), newest('control'), newest('proto'));
if (!existsSync(target) || statSync(target).mtimeMs < sources) {
  execSync('npm run build', { stdio: 'inherit' });
}
