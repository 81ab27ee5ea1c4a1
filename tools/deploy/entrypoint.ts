/**
 * The container's entrypoint: runs `btagent` with the given arguments, after
 * working out the address other agents should dial when none was given.
 *
 * On Docker Swarm a task's hostname (its container id) is not something every
 * other task can be relied on to resolve, and `hostname -i` may list several
 * networks' addresses. The one address that is certainly right is this task's
 * address on the service's overlay network, which is exactly what
 * `tasks.<service>` resolves to (one address per task). So: resolve
 * `tasks.$BTAGENT_SWARM_SERVICE`, keep the address that belongs to one of this
 * container's interfaces, and export it as BTAGENT_ADVERTISE (with the listen
 * port) before the agent reads its flags. An explicit --advertise or
 * BTAGENT_ADVERTISE always wins; outside Swarm (no BTAGENT_SWARM_SERVICE) nothing
 * changes.
 */
import { lookup } from 'node:dns/promises';
import { networkInterfaces } from 'node:os';
import { pathToFileURL } from 'node:url';

/** Every address of this host's (container's) interfaces. */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address);
  }
  return out;
}

/**
 * The address `name` resolves to that is also one of `local`'s, retrying while
 * the name does not resolve yet or does not list this task yet (a task's DNS
 * entry can appear a moment after its container starts). Undefined if none.
 */
export async function ownAddressIn(
  name: string,
  local: ReadonlySet<string>,
  attempts = 20,
  delayMs = 500,
): Promise<string | undefined> {
  for (let i = 0; i < attempts; i++) {
    try {
      for (const a of await lookup(name, { all: true })) {
        if (local.has(a.address)) return a.address;
      }
    } catch {
      // not resolvable yet
    }
    if (i + 1 < attempts) await new Promise((r) => setTimeout(r, delayMs));
  }
  return undefined;
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
  attempts?: number,
): Promise<string | undefined> {
  const service = env['BTAGENT_SWARM_SERVICE'];
  if (service === undefined || service === '') return undefined;
  if (
    env['BTAGENT_ADVERTISE'] ||
    argv.some((a) => a === '--advertise' || a.startsWith('--advertise='))
  )
    return undefined;
  const ip = await ownAddressIn(`tasks.${service}`, localAddresses(), attempts);
  if (ip === undefined) return undefined;
  const port = listenPort(argv, env);
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const advertise = await swarmAdvertise(argv, process.env);
  if (advertise !== undefined) process.env['BTAGENT_ADVERTISE'] = advertise;
  else if (process.env['BTAGENT_SWARM_SERVICE']) {
    process.stderr.write(
      `entrypoint: this task's address not found in tasks.${process.env['BTAGENT_SWARM_SERVICE']}; using the agent's default advertise address\n`,
    );
  }
  // The agent parses process.argv itself; it sees the same arguments.
  await import('../../agent/main.js');
}
