/**
 * The container's entrypoint: runs `btagent` with the given arguments, after
 * working out the address other agents should dial when none was given.
 *
 * On Docker Swarm a task's hostname (its container id) is not something every
 * other task can be relied on to resolve. The address that is certainly right
 * is this task's address on the service's overlay network. `tasks.<service>`
 * lists it, but only once the task is healthy: Swarm adds a task with a
 * HEALTHCHECK to the service's DNS (and VIP) only after its first passing check,
 * and the check needs the agent running. So waiting for DNS before starting
 * the agent never ends at first start. Instead: of this container's interfaces,
 * the overlay one is the one without the default route (Docker routes a task's
 * outside traffic through docker_gwbridge). DNS still decides when it can: an
 * address `tasks.<service>` lists that is ours, or the interface whose subnet
 * holds the other tasks' (or the VIP's) addresses. Only when that leaves a
 * choice (a task on several networks, and nobody healthy yet) does it retry,
 * bounded by a deadline, before falling back to the agent's default.
 *
 * An explicit --advertise or BTAGENT_ADVERTISE always wins; outside Swarm (no
 * BTAGENT_SWARM_SERVICE) nothing changes.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { pathToFileURL } from 'node:url';

/** One address of one of this container's interfaces. */
export interface LocalAddress {
  readonly iface: string;
  readonly address: string;
  /** "address/prefix", as os.networkInterfaces() gives it. */
  readonly cidr: string | null;
  readonly internal: boolean;
}

/** Every address of this host's (container's) interfaces. */
export function localAddresses(): LocalAddress[] {
  const out: LocalAddress[] = [];
  for (const [iface, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      out.push({ iface, address: a.address, cidr: a.cidr, internal: a.internal });
    }
  }
  return out;
}

/** Interfaces that carry an IPv4 default route, from the text of /proc/net/route. */
export function defaultRouteInterfaces(procNetRoute: string): Set<string> {
  const out = new Set<string>();
  for (const line of procNetRoute.split('\n').slice(1)) {
    const [iface, destination, , , , , , mask] = line.trim().split(/\s+/);
    if (iface && destination === '00000000' && mask === '00000000') out.add(iface);
  }
  return out;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** Whether IPv4 `ip` lies in `cidr` ("a.b.c.d/n"); false for anything else. */
export function inSubnet(ip: string, cidr: string | null): boolean {
  if (cidr === null || !isIPv4(ip)) return false;
  const [net, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (net === undefined || !isIPv4(net) || !(prefix >= 0 && prefix <= 32)) return false;
  const size = 2 ** (32 - prefix);
  return Math.floor(ipv4ToInt(ip) / size) === Math.floor(ipv4ToInt(net) / size);
}

/** How the overlay address was chosen (logged). */
export type OverlayChoice = 'dns' | 'subnet' | 'only-interface';

/**
 * This task's overlay address among `local`, given which interfaces carry the
 * default route and what the service's DNS names resolve to now (possibly
 * nothing). Undefined while it is ambiguous.
 */
export function pickOverlayAddress(
  local: readonly LocalAddress[],
  defaultIfaces: ReadonlySet<string>,
  resolved: readonly string[],
): { address: string; how: OverlayChoice } | undefined {
  const external = local.filter((a) => !a.internal && !/^fe80:/i.test(a.address));
  const own = external.find((a) => resolved.includes(a.address));
  if (own !== undefined) return { address: own.address, how: 'dns' };
  const candidates = external.filter((a) => !defaultIfaces.has(a.iface));
  const bySubnet = candidates.filter((a) => resolved.some((r) => inSubnet(r, a.cidr)));
  if (bySubnet.length === 1) return { address: bySubnet[0]!.address, how: 'subnet' };
  if (candidates.length === 1) return { address: candidates[0]!.address, how: 'only-interface' };
  return undefined;
}

/** Inputs of findOverlayAddress; the defaults are the real system. */
export interface OverlayOptions {
  /** How long to keep retrying while the choice is ambiguous. */
  deadlineMs?: number;
  intervalMs?: number;
  resolve?: (name: string) => Promise<string[]>;
  local?: () => readonly LocalAddress[];
  defaultIfaces?: () => ReadonlySet<string>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * 30 s: Swarm's DNS lists a new task within a few seconds of its becoming
 * healthy, and other tasks are usually healthy long before; a start that waits
 * longer is better off with the fallback (and a log line) than not running.
 */
export const DEFAULT_OVERLAY_DEADLINE_MS = 30_000;
export const DEFAULT_OVERLAY_INTERVAL_MS = 500;

async function resolveAll(name: string): Promise<string[]> {
  try {
    return (await lookup(name, { all: true })).map((a) => a.address);
  } catch {
    return []; // not resolvable (yet)
  }
}

function readRoutes(): Set<string> {
  try {
    return defaultRouteInterfaces(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return new Set();
  }
}

/**
 * This task's address on the overlay network of `service`, retrying while it is
 * ambiguous until the deadline. Undefined if it stays ambiguous.
 */
export async function findOverlayAddress(
  service: string,
  opts: OverlayOptions = {},
): Promise<{ address: string; how: OverlayChoice } | undefined> {
  const resolve = opts.resolve ?? resolveAll;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = now() + (opts.deadlineMs ?? DEFAULT_OVERLAY_DEADLINE_MS);
  for (;;) {
    // tasks.<service>: each healthy task; <service>: the VIP, in the same subnet.
    const resolved = [...(await resolve(`tasks.${service}`)), ...(await resolve(service))];
    const local = (opts.local ?? localAddresses)();
    const picked = pickOverlayAddress(local, (opts.defaultIfaces ?? readRoutes)(), resolved);
    if (picked !== undefined || now() >= deadline) return picked;
    await sleep(opts.intervalMs ?? DEFAULT_OVERLAY_INTERVAL_MS);
  }
}

/** The port of a `--listen`/BTAGENT_LISTEN value ("host:port"), default 6000. */
export function listenPort(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  let listen = env['BTAGENT_LISTEN'] ?? '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--listen' && i + 1 < argv.length) listen = argv[i + 1]!;
    else if (a.startsWith('--listen=')) listen = a.slice('--listen='.length);
  }
  const m = /:(\d{1,5})$/.exec(listen);
  return m === null ? '6000' : m[1]!;
}

/**
 * The BTAGENT_ADVERTISE value to set, or undefined to leave the agent's own
 * default (an explicit advertise given, not on Swarm, or no own address found).
 */
export async function swarmAdvertise(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  opts?: OverlayOptions,
): Promise<string | undefined> {
  const service = env['BTAGENT_SWARM_SERVICE'];
  if (service === undefined || service === '') return undefined;
  if (
    env['BTAGENT_ADVERTISE'] ||
    argv.some((a) => a === '--advertise' || a.startsWith('--advertise='))
  )
    return undefined;
  const picked = await findOverlayAddress(service, opts);
  if (picked === undefined) return undefined;
  const port = listenPort(argv, env);
  const ip = picked.address;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const advertise = await swarmAdvertise(argv, process.env);
  if (advertise !== undefined) process.env['BTAGENT_ADVERTISE'] = advertise;
  else if (process.env['BTAGENT_SWARM_SERVICE']) {
    process.stderr.write(
      `entrypoint: this task's overlay address is ambiguous (several networks, tasks.${process.env['BTAGENT_SWARM_SERVICE']} lists none of them); using the agent's default advertise address\n`,
    );
  }
  // The agent parses process.argv itself; it sees the same arguments.
  await import('../../agent/main.js');
}
