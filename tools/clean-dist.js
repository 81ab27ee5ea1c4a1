// `npm run build` starts from an empty dist/ (and no incremental build info), so an
// import of a moved or deleted file fails the build instead of loading yesterday's output.
import { readdirSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
for (const f of readdirSync('.')) if (f.endsWith('.tsbuildinfo')) rmSync(f, { force: true });
