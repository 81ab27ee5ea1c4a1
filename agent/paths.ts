import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package's root folder (the one holding package.json and proto/), found by
 * walking up from this module: the same code runs from agent/ (tests) and dist/agent/.
 */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'btoverlay'
    ) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('btoverlay package root not found');
    dir = up;
  }
})();

/** The folder of the .proto contract. */
export const PROTO_DIR = join(PACKAGE_ROOT, 'proto');
