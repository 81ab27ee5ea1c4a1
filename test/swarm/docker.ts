/**
 * A Docker engine and a one-node Swarm for the Swarm test, every address in
 * 198.19.0.0/16 (198.18.0.0/16 is the other tests'; never 172.17/10.0 or any other
 * private range): the daemon's bridge (`bip`) and local pools, a pre-created
 * docker_gwbridge, and the swarm's pool (ingress and overlays) do not overlap.
 *
 * An engine that already answers is used as it is (its pools are checked); else,
 * as root, this starts Debian's `dockerd` itself and stops it, by PID, at the end.
 * Likewise the swarm: initialised (on loopback only) and left only if it was not
 * active. Everything here is idempotent and quick when already done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inSubnet } from '../../tools/deploy/entrypoint.js';

/** The addresses Docker gets here: four disjoint parts of 198.19.0.0/16. */
export const DOCKER_NET = {
  /** docker0. */
  bip: '198.19.0.1/24',
  /** docker_gwbridge: the tasks' way out (and in, for host-mode ports). */
  gwbridge: { subnet: '198.19.1.0/24', gateway: '198.19.1.1' },
  /** Local (bridge) networks: 198.19.16.0-198.19.31.255 in /24s. */
  localPool: 'base=198.19.16.0/20,size=24',
  /** Swarm scope (ingress, overlays): 198.19.128.0/17 in /24s. */
  swarmPool: '198.19.128.0/17',
  swarmPoolMask: '24',
  all: '198.19.0.0/16',
} as const;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args`; resolves with its output (never rejects on a non-zero exit). */
export function sh(
  cmd: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: stderr + String(e) });
    });
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** `docker args…`, throwing with its stderr on failure. */
export async function docker(args: readonly string[], timeoutMs = 120_000): Promise<string> {
  const r = await sh('docker', args, { timeoutMs });
  if (r.code !== 0) {
    throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout.trim();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function engineAnswers(): Promise<boolean> {
  return (
    (await sh('docker', ['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 }))
      .code === 0
  );
}

/** The engine (and swarm) this test uses, and how to put things back. */
export interface Engine {
  /** Client and server versions, e.g. "client 28.2.2, engine 20.10.24". */
  readonly versions: string;
  /** Leaves a swarm it initialised, stops a dockerd it started (by PID). */
  stop(): Promise<void>;
}

async function startDockerd(logDir: string): Promise<ChildProcess> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'the Swarm test needs a Docker engine: none answers, and only root can start dockerd',
    );
  }
  const logFile = join(logDir, 'dockerd.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    'dockerd',
    ['--bip', DOCKER_NET.bip, '--default-address-pool', DOCKER_NET.localPool],
    {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, PATH: `${process.env['PATH']}:/usr/sbin:/sbin` },
    },
  );
  closeSync(fd);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + 60_000;
  while (!(await engineAnswers())) {
    if (exited !== undefined || Date.now() > deadline) {
      child.kill('SIGKILL');
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
      throw new Error(`dockerd did not come up (exit ${exited}):\n${tail}`);
    }
    await sleep(250);
  }
  return child;
}

/** The host's IPv4 forwarding switch and iptables FORWARD policy, to put back later. */
interface Forwarding {
  ipForward: string;
  policy: string | undefined;
}

async function hostForwarding(): Promise<Forwarding> {
  const ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const r = await sh('iptables', ['-S', 'FORWARD']);
  const policy = /^-P FORWARD (\w+)/m.exec(r.stdout)?.[1];
  return { ipForward, policy };
}

async function restoreForwarding(f: Forwarding): Promise<void> {
  if (f.policy !== undefined) await sh('iptables', ['-P', 'FORWARD', f.policy]);
  writeFileSync('/proc/sys/net/ipv4/ip_forward', `${f.ipForward}\n`);
}

/** Fails unless `subnets` (of an engine this test did not start) are all in 198.19.0.0/16. */
function checkSubnets(what: string, subnets: string[]): void {
  const outside = subnets.filter((s) => !inSubnet(s.split('/')[0]!, DOCKER_NET.all));
  if (outside.length > 0) {
    throw new Error(
      `the Swarm test keeps every Docker address in ${DOCKER_NET.all}; this engine's ${what} uses ${outside.join(', ')} (run dockerd with --bip ${DOCKER_NET.bip} --default-address-pool ${DOCKER_NET.localPool}, or stop it and let the test start one)`,
    );
  }
}

async function subnetsOf(network: string): Promise<string[]> {
  const r = await sh('docker', [
    'network',
    'inspect',
    network,
    '--format',
    '{{range .IPAM.Config}}{{.Subnet}} {{end}}',
  ]);
  return r.code === 0
    ? r.stdout
        .trim()
        .split(/\s+/)
        .filter((s) => s !== '')
    : [];
}

/** Makes sure an engine answers and a swarm is active, both in 198.19.0.0/16. */
export async function ensureSwarm(logDir: string): Promise<Engine> {
  const before = (await engineAnswers()) ? undefined : await hostForwarding();
  const dockerd = before === undefined ? undefined : await startDockerd(logDir);
  if (dockerd === undefined) checkSubnets('bridge network', await subnetsOf('bridge'));
  const versions = `client ${await docker(['version', '--format', '{{.Client.Version}}'])}, engine ${await docker(['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'])}`;

  let createdGwbridge = false;
  let initedSwarm = false;
  const state = await docker(['info', '--format', '{{.Swarm.LocalNodeState}}']);
  if (state === 'inactive') {
    if ((await subnetsOf('docker_gwbridge')).length === 0) {
      await docker([
        'network',
        'create',
        '--driver',
        'bridge',
        '--subnet',
        DOCKER_NET.gwbridge.subnet,
        '--gateway',
        DOCKER_NET.gwbridge.gateway,
        '--opt',
        'com.docker.network.bridge.name=docker_gwbridge',
        '--opt',
        'com.docker.network.bridge.enable_icc=false',
        '--opt',
        'com.docker.network.bridge.enable_ip_masquerade=true',
        'docker_gwbridge',
      ]);
      createdGwbridge = true;
    }
    // Loopback: a one-node swarm needs no other host, and nothing listens outside.
    await docker([
      'swarm',
      'init',
      '--advertise-addr',
      '127.0.0.1',
      '--listen-addr',
      '127.0.0.1:2377',
      '--default-addr-pool',
      DOCKER_NET.swarmPool,
      '--default-addr-pool-mask-length',
      DOCKER_NET.swarmPoolMask,
    ]);
    initedSwarm = true;
  } else if (state !== 'active') {
    throw new Error(`the engine's swarm is "${state}"; the Swarm test needs it inactive or active`);
  }
  checkSubnets('docker_gwbridge', await subnetsOf('docker_gwbridge'));
  checkSubnets('ingress network', await subnetsOf('ingress'));

  return {
    versions,
    async stop(): Promise<void> {
      if (initedSwarm) await sh('docker', ['swarm', 'leave', '--force'], { timeoutMs: 60_000 });
      if (createdGwbridge) await sh('docker', ['network', 'rm', 'docker_gwbridge']);
      if (dockerd?.pid === undefined) return;
      const gone = new Promise((r) => dockerd.once('exit', r));
      process.kill(dockerd.pid, 'SIGTERM');
      const t = setTimeout(
        () => dockerd.pid !== undefined && process.kill(dockerd.pid, 'SIGKILL'),
        30_000,
      );
      await gone;
      clearTimeout(t);
      // dockerd sets FORWARD to DROP and turns forwarding on, and leaves both so.
      if (before !== undefined) await restoreForwarding(before);
    },
  };
}

/** The image's size in MB (as `docker images` counts: 10^6 bytes). */
export async function imageSizeMb(tag: string): Promise<number> {
  return Math.round(Number(await docker(['image', 'inspect', '--format', '{{.Size}}', tag])) / 1e6);
}
