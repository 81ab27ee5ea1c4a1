#!/usr/bin/env node
// The npm mirror this project is developed against only serves linux-x64 builds of
// platform-specific optional packages (buf's binaries, the napi resolver bindings), so an
// `npm install` here writes a lock file without the other platforms' entries, and `npm ci`
// then refuses it ("Missing: … from lock file"). This adds the missing entries the way the
// public registry would (version, os/cpu/libc, optional), so the lock file works with `npm ci`
// everywhere; on a non-matching platform npm skips them without fetching. Run after any
// `npm install` that rewrites package-lock.json: `node tools/lock-platforms.js`.
import { readFileSync, writeFileSync } from 'node:fs';

const LOCK = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const pkgs = lock.packages;

/** Platform of a package from its name suffix, e.g. "linux-arm-musleabihf" → linux/arm/musl. */
function platformOf(suffix) {
  const [os, rawCpu, abi] = suffix.split('-');
  const cpu = rawCpu === 'armv7' ? 'arm' : rawCpu;
  const out = { os: [os], cpu: [cpu] };
  if (os === 'linux' && abi !== undefined) out.libc = [abi.startsWith('musl') ? 'musl' : 'glibc'];
  return out;
}

const FAMILIES = [
  { parentPrefix: 'node_modules/@bufbuild/buf', depPrefix: '@bufbuild/buf-' },
  { parentPrefix: 'node_modules/unrs-resolver', depPrefix: '@unrs/resolver-binding-' },
];

let added = 0;
for (const [path, entry] of Object.entries(pkgs)) {
  const family = FAMILIES.find((f) => path === f.parentPrefix);
  if (family === undefined || entry.optionalDependencies === undefined) continue;
  for (const [dep, version] of Object.entries(entry.optionalDependencies)) {
    if (!dep.startsWith(family.depPrefix)) continue;
    const key = `node_modules/${dep}`;
    if (pkgs[key] !== undefined) continue;
    const suffix = dep.slice(family.depPrefix.length);
    if (suffix.startsWith('wasm')) continue;
    pkgs[key] = { version, ...platformOf(suffix), dev: entry.dev, optional: true };
    if (pkgs[key].dev === undefined) delete pkgs[key].dev;
    added++;
  }
}
writeFileSync(LOCK, JSON.stringify(lock, null, 2) + '\n');
console.log(`lock-platforms: added ${added} platform entries`);
