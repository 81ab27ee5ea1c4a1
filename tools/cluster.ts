/**
 * `npm run cluster -- --agents 5` — a local btoverlay cluster to try things on:
 * N agents on 127.0.0.11, 127.0.0.12, … (one loopback address each, so every agent
 * has the usual ports: 6000 for gRPC/legacy/HTTP, 6881 for peer wire), each
 * bootstrapping from the first two. Prints the btctl commands to try; Ctrl-C
 * (SIGINT) or SIGTERM stops them all and removes their data.
 *
 * Flags: --agents N (default 3, 1-200), --port P (default 6000), --peer-port P
 * (default 6881), --first-ip N (last octet of the first agent, default 11),
 * --keep (leave data and logs in place), --log-level L (default info).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PACKAGE_ROOT } from '../agent/paths.js';
import { stopChild } from './process.js';

const USAGE =
  'usage: npm run cluster -- [--agents N] [--port P] [--peer-port P] [--first-ip N] [--keep] [--log-level L]';

function option(args: string[], name: string, def: string): string {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) usage(`${name} needs a value`);
  return v;
}

function usage(message: string): never {
  process.stderr.write(`cluster: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function int(text: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    usage(`${name} must be an integer ${min}-${max}, got "${text}"`);
  }
  return Number(text);
}

interface Member {
  readonly name: string;
  readonly addr: string;
  readonly child: ChildProcess;
}

/** Starts one agent; resolves once it logged "listening". Its output goes to `logFile`. */
function startAgent(name: string, argv: string[], logFile: string): Promise<Member> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'agent', 'main.js'), ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile);
  child.stderr!.pipe(log);
  return new Promise((resolve, reject) => {
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.write(line + '\n');
      if (ready) return;
      try {
        const l = JSON.parse(line) as { msg?: string; addr?: string };
        if (l.msg === 'listening') {
          ready = true;
          resolve({ name, addr: argv[argv.indexOf('--listen') + 1], child });
        }
      } catch {
        // not JSON
      }
    });
    child.once('exit', (code, signal) => {
      if (!ready)
        reject(new Error(`${name} exited (${code ?? signal}) before listening; see ${logFile}`));
    });
  });
}

async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const n = int(option(args, '--agents', '3'), '--agents', 1, 200);
  const port = int(option(args, '--port', '6000'), '--port', 1, 65535);
  const peerPort = int(option(args, '--peer-port', '6881'), '--peer-port', 1, 65535);
  const firstIp = int(option(args, '--first-ip', '11'), '--first-ip', 1, 254);
  const logLevel = option(args, '--log-level', 'info');
  const keep = args.includes('--keep');
  if (firstIp + n - 1 > 254) usage(`--first-ip ${firstIp} leaves no room for ${n} agents`);

  const root = mkdtempSync(join(tmpdir(), 'btoverlay-cluster-'));
  const addrs = Array.from({ length: n }, (_, i) => `127.0.0.${firstIp + i}:${port}`);
  const bootstrap = addrs.slice(0, Math.min(2, n));
  const members: Member[] = [];
  let stopping = false;
  const shutdown = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${why}: stopping ${members.length} agents…\n`);
    await Promise.all(members.map((m) => stopChild(m.child, 8000)));
    if (keep) process.stdout.write(`data and logs kept in ${root}\n`);
    else rmSync(root, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    // Sequentially: each joins a cluster that is already there.
    for (let i = 0; i < n; i++) {
      const name = `agent-${i + 1}`;
      const dir = join(root, name);
      mkdirSync(dir, { recursive: true });
      const argv = [
        'run',
        '--listen',
        addrs[i],
        '--node-id',
        name,
        '--bootstrap',
        bootstrap.filter((b) => b !== addrs[i]).join(','),
        '--data-dir',
        dir,
        // The first agent generates the cluster key in its data dir; the others are
        // given that file, as an operator would copy it to the next host.
        ...(i === 0 ? [] : ['--cluster-key', join(root, 'agent-1', 'cluster.key')]),
        '--peer-port',
        String(peerPort),
        '--log-level',
        logLevel,
      ];
      members.push(await startAgent(name, argv, join(root, `${name}.log`)));
    }
  } catch (err) {
    process.stderr.write(`cluster: ${(err as Error).message}\n`);
    await shutdown('failed to start');
    return;
  }
  for (const m of members) {
    m.child.once('exit', (code, signal) => {
      if (!stopping)
        process.stdout.write(`${m.name} exited (${code ?? signal}); see ${root}/${m.name}.log\n`);
    });
  }

  const first = addrs[0];
  const last = addrs[n - 1];
  const ih = randomBytes(20).toString('hex');
  const lines = [
    `${n} agents running (data and logs in ${root}):`,
    ...members.map(
      (m) => `  ${m.name.padEnd(10)} ${m.addr.padEnd(18)} tracker http://${m.addr}/announce`,
    ),
    `cluster key: ${join(root, 'agent-1', 'cluster.key')} (agent-1 generated it; the others got --cluster-key)`,
    '',
    'Try:',
    `  npx btctl members --node ${first}`,
    `  npx btctl announce ${ih} --addr 10.0.0.7:6881 --node ${first}`,
    `  npx btctl lookup ${ih} --node ${last}`,
    `  npx btctl convergence --node ${first}`,
    `  npx btctl status --node ${last}`,
    `  npx btctl torrent add FILE.torrent --node ${first}    (then: npx btctl torrent list --node ${last})`,
    `  curl -s http://${last}/metrics | grep btoverlay_store`,
    `  BitTorrent clients: use http://${first}/announce as the tracker (DHT/LSD/PEX off to see the overlay at work)`,
    '',
    'Ctrl-C stops them all.',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

await main(process.argv.slice(2));
