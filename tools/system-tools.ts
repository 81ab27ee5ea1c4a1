/**
 * The system programs the test suite runs (real BitTorrent clients, Python gRPC,
 * network namespaces, a Docker engine…), where each comes from on Debian, and a
 * check that finds the missing ones.
 *
 * `npm test` runs this first (`pretest`, `node dist/tools/system-tools.js`): as
 * root with apt-get it installs what is missing (`apt-get update`, then
 * `apt-get install -y --no-install-recommends …`); otherwise it stops at once,
 * naming the packages, rather than letting a test wait out a hook timeout. Tests
 * call `requireTools` (test/helpers/tools.ts) for the same table, so one run
 * outside `npm test` fails in seconds with the program's name.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Debian's python3: python3-libtorrent and python3-grpcio live there, not in a pyenv. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** One program (or Python module) a test needs. */
export interface SystemTool {
  /** An executable (looked up in PATH unless absolute), or `python3:<module>`. */
  readonly name: string;
  /** The Debian package that provides it. */
  readonly apt: string;
  /** Who uses it, for the message. */
  readonly usedBy: string;
}

export const SYSTEM_TOOLS = [
  { name: 'aria2c', apt: 'aria2', usedBy: 'torrent and tracker interop tests' },
  { name: 'transmission-cli', apt: 'transmission-cli', usedBy: 'torrent and tracker interop' },
  { name: SYSTEM_PYTHON, apt: 'python3', usedBy: 'libtorrent peers, the Python example' },
  { name: 'python3:libtorrent', apt: 'python3-libtorrent', usedBy: 'torrent interop tests' },
  { name: 'python3:grpc', apt: 'python3-grpcio', usedBy: 'the Python example' },
  { name: 'python3:google.protobuf', apt: 'python3-protobuf', usedBy: 'the Python example' },
  { name: 'protoc', apt: 'protobuf-compiler', usedBy: 'the Python example' },
  {
    name: '/usr/bin/grpc_python_plugin',
    apt: 'protobuf-compiler-grpc',
    usedBy: 'the Python example',
  },
  { name: 'ip', apt: 'iproute2', usedBy: 'network-namespace tests (partition, outsider)' },
  { name: 'openssl', apt: 'openssl', usedBy: 'TLS tests (a test PKI)' },
  { name: 'docker', apt: 'docker.io', usedBy: 'deploy and Swarm tests' },
  { name: 'dockerd', apt: 'docker.io', usedBy: 'the Swarm test (a local engine)' },
  { name: 'debootstrap', apt: 'debootstrap', usedBy: 'the Swarm test (the base image)' },
  { name: 'wrk', apt: 'wrk', usedBy: 'the write-burst test (tracker announces)' },
  { name: 'taskset', apt: 'util-linux', usedBy: 'the write-burst test (pinning wrk)' },
] as const satisfies readonly SystemTool[];

export type SystemToolName = (typeof SYSTEM_TOOLS)[number]['name'];

/** Whether `name` is an executable file, absolute or in `path` (PATH plus sbin dirs). */
export function findExecutable(name: string, path = process.env['PATH'] ?? ''): boolean {
  // sbin: root's tools (dockerd, debootstrap) even where PATH lacks it.
  const dirs = isAbsolute(name)
    ? ['']
    : [...path.split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs.some((d) => {
    try {
      accessSync(d === '' ? name : join(d, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The Python modules of `modules` that SYSTEM_PYTHON cannot import (one interpreter run). */
function missingPythonModules(modules: readonly string[]): Set<string> {
  if (modules.length === 0) return new Set();
  if (!findExecutable(SYSTEM_PYTHON)) return new Set(modules);
  const script = [
    'import importlib, sys',
    'for m in sys.argv[1:]:',
    '    try: importlib.import_module(m)',
    '    except Exception: print(m)',
  ].join('\n');
  const r = spawnSync(SYSTEM_PYTHON, ['-c', script, ...modules], { encoding: 'utf8' });
  if (r.status !== 0) return new Set(modules);
  return new Set(r.stdout.split('\n').filter((l) => l !== ''));
}

/** The tools of `tools` that this machine lacks. */
export function missingTools(tools: readonly SystemTool[] = SYSTEM_TOOLS): SystemTool[] {
  const py = (t: SystemTool): string | undefined =>
    t.name.startsWith('python3:') ? t.name.slice('python3:'.length) : undefined;
  const modules = missingPythonModules(tools.map(py).filter((m) => m !== undefined));
  return tools.filter((t) => {
    const m = py(t);
    return m !== undefined ? modules.has(m) : !findExecutable(t.name);
  });
}

/** "aria2c (apt: aria2; torrent tests), …": what is missing and where it comes from. */
export function describeMissing(missing: readonly SystemTool[]): string {
  return missing.map((t) => `${t.name} (apt: ${t.apt}; ${t.usedBy})`).join(', ');
}

/** The packages to install for `missing`, each once, in table order. */
export function packagesFor(missing: readonly SystemTool[]): string[] {
  return [...new Set(missing.map((t) => t.apt))];
}

/** The tools of SYSTEM_TOOLS named `names` (all of them by default). */
export function toolsNamed(names: readonly SystemToolName[]): SystemTool[] {
  return SYSTEM_TOOLS.filter((t) => names.includes(t.name));
}

function apt(args: string[]): boolean {
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/** Inputs of ensureSystemTools; the defaults are this machine. */
export interface EnsureToolsOptions {
  tools?: readonly SystemTool[];
  /** Whether apt-get may install (default: running as root and apt-get exists). */
  canInstall?: boolean;
  log?: (line: string) => void;
}

/**
 * Checks every tool; installs the missing ones with apt when allowed. Returns the
 * exit code: 0 when all are there (now), 1 otherwise (after saying why).
 */
export function ensureSystemTools(opts: EnsureToolsOptions = {}): number {
  const tools = opts.tools ?? SYSTEM_TOOLS;
  const log = opts.log ?? ((l: string) => console.error(l));
  let missing = missingTools(tools);
  if (missing.length === 0) return 0;
  const pkgs = packagesFor(missing);
  const canInstall = opts.canInstall ?? (process.getuid?.() === 0 && findExecutable('apt-get'));
  if (!canInstall) {
    log(`pretest: missing system tools: ${describeMissing(missing)}`);
    log(`pretest: as root: apt-get install -y --no-install-recommends ${pkgs.join(' ')}`);
    return 1;
  }
  log(`pretest: installing ${pkgs.join(' ')} (missing: ${missing.map((t) => t.name).join(', ')})`);
  const ok =
    apt(['update', '-qq']) && apt(['install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
  missing = missingTools(tools);
  if (!ok || missing.length > 0) {
    log(`pretest: still missing after apt-get: ${describeMissing(missing)}`);
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = ensureSystemTools();
}
