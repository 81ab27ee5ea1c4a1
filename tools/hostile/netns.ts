import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';

/**
 * Another host on the network, for tests and benchmarks that ask what a machine
 * that is not the agent's own can do to it. A network namespace this test creates, joined
 * to the root namespace by a veth pair with a /30 from 198.18.128.0/17 (RFC
 * 2544's benchmarking range, which exists only on these links; the partition
 * test uses 198.18.0.0/24). An agent listening on 0.0.0.0 in the root
 * namespace is reached from inside at `hostIp`, and sees the outsider's
 * connections come from `ip`, not loopback. Needs root with CAP_NET_ADMIN:
 * `createOutsider` returns undefined where namespaces cannot be made, and the
 * caller skips with a message. Always `close()` it (afterAll).
 */
export interface Outsider {
  /** The namespace's name. */
  readonly ns: string;
  /** The outsider's address, as the agent sees it. */
  readonly ip: string;
  /** The root namespace's end of the link: where the outsider dials the agent. */
  readonly hostIp: string;
  /** Runs a program inside the namespace; resolves with its exit code and output. */
  run(
    cmd: string,
    args: string[],
    opts?: { timeoutMs?: number; input?: string; env?: Record<string, string> },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Spawns a program inside the namespace (the caller stops it). */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ReturnType<typeof spawn>;
  /** Deletes the namespace and the link. */
  close(): void;
}

let counter = 0;

function ip(args: string[]): boolean {
  return spawnSync('ip', args, { stdio: 'ignore' }).status === 0;
}

/** Whether this process may create network namespaces (root, CAP_NET_ADMIN, iproute2). */
export function canCreateNamespaces(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = `btp${process.pid % 100000}`;
  if (!ip(['netns', 'add', probe])) return false;
  ip(['netns', 'del', probe]);
  return true;
}

/**
 * Creates an outsider host. The /30 is picked from the pid and a counter, and
 * skipped when a route for it already exists, so that test files running at
 * once (jest workers, several checkouts) never share a subnet.
 */
export function createOutsider(): Outsider | undefined {
  if (!canCreateNamespaces()) return undefined;
  for (let attempt = 0; attempt < 16; attempt++) {
    const n = counter++;
    const block = (process.pid * 31 + n * 7919 + attempt * 104_729) % 8192; // /30 blocks in /17
    const base = (198 << 24) | (18 << 16) | (128 << 8); // 198.18.128.0
    const net = base + block * 4;
    const dotted = (v: number): string =>
      [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
    const hostIp = dotted(net + 1);
    const nsIp = dotted(net + 2);
    const taken = spawnSync('ip', ['-4', 'route', 'show', `${dotted(net)}/30`], {
      encoding: 'utf8',
    }).stdout.trim();
    if (taken !== '') continue;
    const tag = `${(process.pid % 100000).toString(36)}${n.toString(36)}`;
    const ns = `bto${tag}`;
    const hostIf = `bth${tag}`.slice(0, 15);
    const close = (): void => {
      ip(['netns', 'del', ns]);
      ip(['link', 'del', hostIf]);
    };
    close();
    const ok =
      ip(['netns', 'add', ns]) &&
      ip(['-n', ns, 'link', 'set', 'lo', 'up']) &&
      ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]) &&
      ip(['addr', 'add', `${hostIp}/30`, 'dev', hostIf]) &&
      ip(['link', 'set', hostIf, 'up']) &&
      ip(['-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', 'eth0']) &&
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    if (!ok) {
      close();
      continue;
    }
    const spawnIn = (cmd: string, args: string[], opts: SpawnOptions = {}) =>
      spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts);
    return {
      ns,
      ip: nsIp,
      hostIp,
      spawn: spawnIn,
      run: (cmd, args, opts = {}) =>
        new Promise((resolve) => {
          const c = spawnIn(cmd, args, {
            stdio: ['pipe', 'pipe', 'pipe'],
            env: { ...process.env, ...opts.env },
          });
          let stdout = '';
          let stderr = '';
          c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
          c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
          const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
          c.stdin!.end(opts.input ?? '');
          c.once('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr });
          });
        }),
      close,
    };
  }
  throw new Error('could not create an outsider namespace (no free /30 in 198.18.128.0/17)');
}
