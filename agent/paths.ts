import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
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

/**
 * The default data directory: `$XDG_DATA_HOME/btoverlay`, else `~/.local/share/btoverlay`
 * (XDG Base Directory Specification), so state survives restarts and is per user.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'btoverlay');
}

/** The absolute data dir of `--data-dir` (text as given), or the default one. */
export function resolveDataDir(text: string | undefined): string {
  return resolve(text?.trim() ? text.trim() : defaultDataDir());
}
