/**
 * bittorrent-tracker (the npm tracker server), as a reference peer for benchmarks and
 * tests: installed on first use outside the project's dependency tree, and run as a child
 * process.
 *
 * Why not a devDependency: its dependency node-datachannel has an install script that
 * downloads or compiles a native WebRTC library, which would make `npm install` of the
 * project fail on a machine that reaches only the npm registry. The HTTP and UDP servers
 * never load that library, so an `--ignore-scripts` install under .tmp/ (git-ignored) is
 * enough.
 *
 * Child mode: `node dist/tools/peers/bittorrent-tracker.js --serve http|udp` logs
 * `{"msg":"listening","addr":"127.0.0.1:PORT"}` (tools/process.ts startListening reads it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from '../../agent/paths.js';

/** The pinned version. */
export const BITTORRENT_TRACKER_VERSION = '11.2.3';

/** Path of bittorrent-tracker's server.js, installing it first if needed. */
export function bittorrentTrackerFile(): string {
  const dir = join(
    PACKAGE_ROOT,
    '.tmp',
    'bench-peers',
    `bittorrent-tracker-${BITTORRENT_TRACKER_VERSION}`,
  );
  const file = join(dir, 'node_modules', 'bittorrent-tracker', 'server.js');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    console.error(`installing bittorrent-tracker@${BITTORRENT_TRACKER_VERSION} into ${dir}`);
    const r = spawnSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--ignore-scripts',
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        `bittorrent-tracker@${BITTORRENT_TRACKER_VERSION}`,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0)
      throw new Error(`npm install bittorrent-tracker@${BITTORRENT_TRACKER_VERSION} failed`);
  }
  return file;
}

/** Child mode: one server (HTTP or UDP only) on 127.0.0.1, any free port. */
async function serve(kind: 'http' | 'udp'): Promise<void> {
  const { default: Server } = (await import(
    pathToFileURL(bittorrentTrackerFile()).href
  )) as typeof import('bittorrent-tracker/server');
  const server = new Server({
    http: kind === 'http',
    udp: kind === 'udp',
    ws: false,
    stats: false,
  });
  server.on('error', (err: Error) => {
    console.error(err);
    process.exit(1);
  });
  // Per-request warnings (bad requests) would only slow it down.
  server.on('warning', () => undefined);
  server.listen(0, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' }, () => {
    const a = kind === 'http' ? server.http?.address() : server.udp4?.address();
    const port = typeof a === 'object' && a !== null ? a.port : 0;
    console.log(JSON.stringify({ msg: 'listening', addr: `127.0.0.1:${port}` }));
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

const at = process.argv.indexOf('--serve');
if (at >= 0) {
  const kind = process.argv[at + 1];
  if (kind !== 'http' && kind !== 'udp') {
    console.error('usage: bittorrent-tracker --serve http|udp');
    process.exit(2);
  }
  await serve(kind);
}
