/**
 * The Swarm test's view of a deployed stack: its tasks' containers, `btctl` run
 * inside them (`docker exec`, as docs/swarm.md tells operators), and the images
 * and files the deploy needs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/agent-process.js';
import { docker, sh, type Result } from './docker.js';

export const STACK_FILE = join(ROOT, 'tools', 'deploy', 'stack.yml');
export const STACK_TLS_FILE = join(ROOT, 'tools', 'deploy', 'stack.tls.yml');
export const TEST_OVERRIDE = join(ROOT, 'test', 'swarm', 'stack.test.yml');
/** The local stand-in for node:20-bookworm-slim (tools/deploy/base-image.sh). */
export const BASE_TAG = 'btoverlay/node:20-bookworm-slim';

/** stack.yml without its `ports:` block (see stack.test.yml for why), written to `dir`. */
export function stackWithoutPorts(yaml: string, dir: string): string {
  const out: string[] = [];
  let skipping = false;
  for (const line of yaml.split('\n')) {
    if (line === '    ports:') {
      skipping = true;
      continue;
    }
    if (skipping && (line.startsWith('      ') || line.trim() === '')) continue;
    skipping = false;
    out.push(line);
  }
  const path = join(dir, 'stack.noports.yml');
  writeFileSync(path, out.join('\n'));
  return path;
}

/** Builds the real Dockerfile on the stand-in base image. */
export async function buildImage(tag: string, extra: string[] = []): Promise<void> {
  // The legacy builder: BuildKit would fetch the `# syntax=` frontend from a registry.
  const r = await sh(
    'docker',
    [
      'build',
      '--network',
      'host',
      '--build-arg',
      `NODE_IMAGE=${BASE_TAG}`,
      ...extra,
      '-t',
      tag,
      ROOT,
    ],
    { timeoutMs: 10 * 60_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } },
  );
  if (r.code !== 0)
    throw new Error(`docker build ${tag} failed:\n${r.stdout.slice(-3000)}${r.stderr}`);
}

/** One running container of a service's task. */
export interface TaskContainer {
  readonly id: string;
  /** e.g. "btswarm_btagent.2" (the slot) */
  readonly slot: string;
  readonly taskId: string;
  readonly healthy: boolean;
  readonly image: string;
}

/** The running containers of `service`. */
export async function taskContainers(service: string): Promise<TaskContainer[]> {
  const out = await docker([
    'ps',
    '--filter',
    `label=com.docker.swarm.service.name=${service}`,
    '--format',
    '{{.ID}}\t{{.Label "com.docker.swarm.task.name"}}\t{{.Label "com.docker.swarm.task.id"}}\t{{.Status}}\t{{.Image}}',
  ]);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [id, name, taskId, status, image] = l.split('\t') as [
        string,
        string,
        string,
        string,
        string,
      ];
      return {
        id,
        slot: name.split('.').slice(0, 2).join('.'),
        taskId,
        healthy: status.includes('(healthy)'),
        image,
      };
    });
}

/** Task ids of `service` whose desired state is running (not being stopped). */
export async function desiredRunning(service: string): Promise<Set<string>> {
  const out = await docker([
    'service',
    'ps',
    service,
    '--filter',
    'desired-state=running',
    '--no-trunc',
    '--format',
    '{{.ID}}',
  ]);
  return new Set(out.split('\n').filter((l) => l !== ''));
}

/** `btctl args…` inside a container, against its own agent. */
export function btctlIn(container: string, args: readonly string[]): Promise<Result> {
  return sh('docker', ['exec', container, 'btctl', ...args, '--node', '127.0.0.1:6000'], {
    timeoutMs: 30_000,
  });
}

/** A member as `btctl members --json` prints it. */
export interface Member {
  node_id: string;
  addr: string;
  state: string;
  incarnation: string;
  self?: boolean;
}

export async function membersOf(container: string): Promise<Member[]> {
  const r = await btctlIn(container, ['members', '--json']);
  if (r.code !== 0) throw new Error(`btctl members in ${container}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { members: Member[] }).members;
}

/** Provider addresses `btctl lookup` returns for `hash` in `container`, or an error text. */
export async function lookupIn(container: string, hash: string): Promise<string[] | string> {
  const r = await btctlIn(container, ['lookup', '--json', hash]);
  if (r.code !== 0) return `exit ${r.code}: ${(r.stderr || r.stdout).trim()}`;
  return (JSON.parse(r.stdout) as { providers: { addr: string }[] }).providers.map((p) => p.addr);
}

/** The agent's status (btctl status --json). */
export async function statusOf(container: string): Promise<{
  nodeId: string;
  advertiseAddr: string;
  publicKey: string;
  securityRefusals: Record<string, string | number>;
}> {
  const r = await btctlIn(container, ['status', '--json']);
  if (r.code !== 0) throw new Error(`btctl status in ${container}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Awaited<ReturnType<typeof statusOf>>;
}

/** Waits until `service` has `n` healthy running containers; returns them. */
export async function healthyTasks(
  service: string,
  n: number,
  timeoutMs: number,
): Promise<TaskContainer[]> {
  const deadline = Date.now() + timeoutMs;
  let last: TaskContainer[] = [];
  while (Date.now() < deadline) {
    last = (await taskContainers(service)).filter((t) => t.healthy);
    if (last.length === n) return last.sort((a, b) => a.slot.localeCompare(b.slot));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const ps = await sh('docker', ['service', 'ps', '--no-trunc', service]);
  throw new Error(
    `${service}: ${last.length} of ${n} tasks healthy after ${timeoutMs} ms\n${ps.stdout}`,
  );
}

/** Removes a stack and waits until its containers are gone. */
export async function removeStack(name: string): Promise<void> {
  await sh('docker', ['stack', 'rm', name]);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const left = await sh('docker', [
      'ps',
      '-aq',
      '--filter',
      `label=com.docker.stack.namespace=${name}`,
    ]);
    if (left.stdout.trim() === '') return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `docker stack deploy` of `files` as `name`, with BTOVERLAY_IMAGE=`image`. */
export async function stackDeploy(name: string, files: string[], image: string): Promise<void> {
  const r = await sh(
    'docker',
    ['stack', 'deploy', '--resolve-image', 'never', ...files.flatMap((f) => ['-c', f]), name],
    {
      env: { ...process.env, BTOVERLAY_IMAGE: image },
    },
  );
  if (r.code !== 0) throw new Error(`docker stack deploy ${name}: ${r.stderr}`);
}

/** An agent container beside the service on its overlay network (not a task). */
export async function runBeside(
  network: string,
  name: string,
  image: string,
  args: string[],
  mounts: string[] = [],
): Promise<void> {
  await sh('docker', ['rm', '-f', name]);
  await docker([
    'run',
    '-d',
    '--name',
    name,
    '--network',
    network,
    ...mounts,
    // The entrypoint finds this container's overlay address as it does a task's.
    '-e',
    'BTAGENT_SWARM_SERVICE=btagent',
    image,
    'run',
    '--listen',
    '0.0.0.0:6000',
    '--bootstrap',
    'dns:tasks.btagent:6000',
    '--data-dir',
    `/tmp/${name}`,
    '--node-id',
    name,
    ...args,
  ]);
}

export async function isRunning(container: string): Promise<boolean> {
  const r = await sh('docker', ['inspect', '--format', '{{.State.Running}}', container]);
  return r.stdout.trim() === 'true';
}

/** Every task's member list: all `ids` alive. */
export async function allSeeAlive(containers: TaskContainer[], ids: string[]): Promise<boolean> {
  for (const t of containers) {
    const alive = (await membersOf(t.id)).filter((m) => m.state === 'alive').map((m) => m.node_id);
    if (!ids.every((id) => alive.includes(id))) return false;
  }
  return true;
}
