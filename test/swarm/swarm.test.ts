/**
 * The real image on a real (one-node) Docker Swarm: builds the Dockerfile on a local
 * stand-in for node:20-bookworm-slim, deploys tools/deploy/stack.yml (replicated x 3, no
 * published ports: test/swarm/stack.test.yml) and checks what docs/swarm.md promises with
 * `docker exec <task> btctl`: healthy tasks that form one cluster on their overlay
 * addresses, an announce answered everywhere, a killed task replaced and complete, a
 * rolling image update with no failed lookup, an agent without the cluster secret never
 * admitted, `left` spread on `docker stack rm`, and the mTLS variant.
 *
 * Needs root (or a running engine whose pools are in 198.19.0.0/16), Debian's docker.io
 * and debootstrap (npm test's pretest installs them), and the npm registry for the
 * image's `npm ci`. Prints the image size and the time from deploy to convergence.
 */
import { jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, eventually, randomInfoHash } from '../helpers/agent-process.js';
import { makeTestPki } from '../helpers/security.js';
import { requireTools } from '../helpers/tools.js';
import { docker, ensureSwarm, imageSizeMb, sh, type Engine } from './docker.js';
import {
  BASE_TAG,
  allSeeAlive,
  isRunning,
  runBeside,
  stackDeploy,
  STACK_FILE,
  STACK_TLS_FILE,
  TEST_OVERRIDE,
  btctlIn,
  buildImage,
  desiredRunning,
  healthyTasks,
  lookupIn,
  membersOf,
  removeStack,
  stackWithoutPorts,
  statusOf,
  taskContainers,
  type TaskContainer,
} from './stack.js';

requireTools('docker', 'dockerd', 'debootstrap', 'openssl');
jest.setTimeout(5 * 60_000);

const STACK = 'btswarm';
const SERVICE = `${STACK}_btagent`;
const NETWORK = `${STACK}_overlay`;
const TLS_STACK = 'btswarmtls';
const IMAGE_A = 'btoverlay:swarm-test-a';
const IMAGE_B = 'btoverlay:swarm-test-b';
const OBSERVER = 'btswarm-observer';
const INTRUDER = 'btswarm-intruder';
const SECRETS = [
  'btoverlay_cluster_key',
  'btoverlay_tls_ca',
  'btoverlay_tls_cert',
  'btoverlay_tls_key',
];

const dir = mkdtempSync(join(tmpdir(), 'btoverlay-swarm-'));
let engine: Engine | undefined;
let stackFile = '';
let keyFile = '';
let deployedAt = 0;
let tasks: TaskContainer[] = [];
/** Records announced so far: info hash -> provider address. */
const records = new Map<string, string>();

const log = (line: string): void => console.log(`swarm test: ${line}`);
const run = (...args: string[]): Promise<string> => docker(args);

beforeAll(async () => {
  engine = await ensureSwarm(dir);
  log(engine.versions);
  const baseStart = Date.now();
  const base = spawnSync('bash', [join(ROOT, 'tools', 'deploy', 'base-image.sh'), BASE_TAG], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (base.status !== 0) throw new Error(`tools/deploy/base-image.sh failed: ${base.stderr}`);
  log(`base image ${BASE_TAG} ready in ${((Date.now() - baseStart) / 1000).toFixed(0)} s`);
  const buildStart = Date.now();
  await buildImage(IMAGE_A);
  // A rebuilt tag for the rolling update: the same layers, a new image id.
  await buildImage(IMAGE_B, ['--label', 'btoverlay.test.rebuild=b']);
  log(
    `images built in ${((Date.now() - buildStart) / 1000).toFixed(0)} s; ${IMAGE_A} is ${await imageSizeMb(IMAGE_A)} MB`,
  );

  for (const s of SECRETS) await sh('docker', ['secret', 'rm', s]);
  keyFile = join(dir, 'cluster.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o400 });
  chownSync(keyFile, 1000, 1000); // the observer's agent runs as uid 1000 and reads it
  await run('secret', 'create', 'btoverlay_cluster_key', keyFile);
  stackFile = stackWithoutPorts(readFileSync(STACK_FILE, 'utf8'), dir);
  deployedAt = Date.now();
  await stackDeploy(STACK, [stackFile, TEST_OVERRIDE], IMAGE_A);
}, 20 * 60_000);

afterAll(async () => {
  await sh('docker', ['rm', '-f', OBSERVER, INTRUDER, `${TLS_STACK}-client`]);
  await removeStack(STACK);
  await removeStack(TLS_STACK);
  for (const n of [NETWORK, `${TLS_STACK}_overlay`]) await sh('docker', ['network', 'rm', n]);
  for (const v of [`${STACK}_btoverlay-data`, `${TLS_STACK}_btoverlay-data`])
    await sh('docker', ['volume', 'rm', v]);
  for (const s of SECRETS) await sh('docker', ['secret', 'rm', s]);
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 3 * 60_000);

it('deploys three healthy tasks that form one cluster on their overlay addresses, each its own id and identity', async () => {
  tasks = await healthyTasks(SERVICE, 3, 3 * 60_000);
  const statuses = await Promise.all(tasks.map((t) => statusOf(t.id)));
  // Ids unique per task yet stable per slot; separate data dirs give separate identities.
  expect(statuses.map((s) => s.nodeId.replace(/^.*-/, '')).sort()).toEqual(['1', '2', '3']);
  expect(new Set(statuses.map((s) => s.publicKey)).size).toBe(3);
  // The entrypoint advertised each task's overlay address, not its container hostname.
  for (const s of statuses) expect(s.advertiseAddr).toMatch(/^198\.19\.\d+\.\d+:6000$/);
  const ids = statuses.map((s) => s.nodeId);
  expect(await eventually(() => allSeeAlive(tasks, ids), 90_000, 1000)).toBe(true);
  const converged = await btctlIn(tasks[0]!.id, ['convergence', '--watch', '--timeout', '60s']);
  expect([converged.code, converged.stdout]).toEqual([0, expect.stringContaining('converged')]);
  log(
    `deploy to converged cluster (3 tasks healthy, all alive, convergence exit 0): ${((Date.now() - deployedAt) / 1000).toFixed(1)} s`,
  );
});

it('answers an announce made on one task on every task', async () => {
  for (const [i, t] of tasks.entries()) {
    const hash = randomInfoHash();
    const addr = `127.0.0.1:${7001 + i}`;
    const r = await btctlIn(t.id, ['announce', hash, '--addr', addr]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    records.set(hash, addr);
  }
  const answered = await Promise.all(
    tasks.flatMap((t) =>
      [...records].map(([hash, addr]) =>
        eventually(async () => (await lookupIn(t.id, hash)).includes(addr), 20_000, 500),
      ),
    ),
  );
  expect(answered).toEqual(answered.map(() => true));
});

it('replaces a killed task; the new one rejoins and answers every live record as soon as it is healthy', async () => {
  const victim = tasks[1]!;
  const victimId = (await statusOf(victim.id)).nodeId;
  await run('kill', victim.id);
  let fresh: TaskContainer | undefined;
  const deadline = Date.now() + 2 * 60_000;
  while (fresh === undefined && Date.now() < deadline) {
    fresh = (await taskContainers(SERVICE)).find(
      (t) => t.slot === victim.slot && t.id !== victim.id && t.healthy,
    );
    if (fresh === undefined) await new Promise((r) => setTimeout(r, 250));
  }
  expect(fresh).toBeDefined();
  // The moment Swarm calls it healthy, it must already hold the whole store.
  const answers = await Promise.all(
    [...records].map(async ([hash, addr]) => [
      hash,
      (await lookupIn(fresh!.id, hash)).includes(addr),
    ]),
  );
  expect(answers).toEqual([...records.keys()].map((h) => [h, true]));
  expect((await statusOf(fresh!.id)).nodeId).toBe(victimId);
  tasks = await healthyTasks(SERVICE, 3, 60_000);
  expect(await eventually(() => allSeeAlive(tasks, [victimId]), 60_000, 1000)).toBe(true);
});

it('rolls an image update one task at a time with no lookup failing on the others', async () => {
  // A record from a member outside the service, so no task's graceful leave withdraws it.
  await runBeside(
    NETWORK,
    OBSERVER,
    IMAGE_A,
    ['--cluster-key', '/run/secrets/btoverlay_cluster_key'],
    ['-v', `${keyFile}:/run/secrets/btoverlay_cluster_key:ro`],
  );
  const hash = randomInfoHash();
  const announce = async (): Promise<void> => {
    const r = await btctlIn(OBSERVER, ['announce', hash, '--addr', '127.0.0.1:7100']);
    if (r.code !== 0) throw new Error(`announce on the observer: ${r.stderr}`);
  };
  expect(await eventually(async () => (await announce(), true), 30_000, 1000)).toBe(true);
  expect(
    await eventually(
      async () => {
        for (const t of tasks)
          if (!(await lookupIn(t.id, hash)).includes('127.0.0.1:7100')) return false;
        return true;
      },
      60_000,
      1000,
    ),
  ).toBe(true);

  const started = Date.now();
  await run('service', 'update', '--detach', '--image', IMAGE_B, SERVICE);
  const failures: string[] = [];
  const joinFailures: string[] = [];
  let minHealthy = 3;
  let lastAnnounce = Date.now();
  const firstHealthy = new Map<string, number>();
  for (;;) {
    const state = await run(
      'service',
      'inspect',
      '--format',
      '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}',
      SERVICE,
    );
    if (state === 'completed') break;
    if (/paused|rollback/.test(state) || Date.now() - started > 6 * 60_000)
      throw new Error(`update ${state || 'stuck'}`);
    if (Date.now() - lastAnnounce > 30_000) {
      await announce(); // a client re-announces well within the 90 s TTL
      lastAnnounce = Date.now();
    }
    const healthy = (await taskContainers(SERVICE)).filter((t) => t.healthy);
    const running = await desiredRunning(SERVICE);
    minHealthy = Math.min(minHealthy, healthy.filter((t) => running.has(t.taskId)).length);
    await Promise.all(
      healthy
        .filter((t) => running.has(t.taskId))
        .map(async (t) => {
          if (!firstHealthy.has(t.id)) firstHealthy.set(t.id, Date.now());
          const got = await lookupIn(t.id, hash);
          if (Array.isArray(got) && got.includes('127.0.0.1:7100')) return;
          // Being stopped meanwhile (its update turn came): not one of "the others". Swarm
          // may mark it a moment after the stop began, so look again shortly after.
          await new Promise((r) => setTimeout(r, 2000));
          if (!(await desiredRunning(SERVICE)).has(t.taskId) || !(await isRunning(t.id))) return;
          const line = `${t.slot} ${t.image}: ${JSON.stringify(got)}`;
          (t.image === IMAGE_B && Date.now() - firstHealthy.get(t.id)! < 20_000
            ? joinFailures
            : failures
          ).push(line);
        }),
    );
    await new Promise((r) => setTimeout(r, 1000));
  }
  log(`rolling update of 3 tasks: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  expect(failures).toEqual([]);
  // A new task answers as soon as it is healthy (the join sync).
  expect(joinFailures).toEqual([]);
  // parallelism 1, stop-first: never fewer than two serving tasks.
  expect(minHealthy).toBeGreaterThanOrEqual(2);
  tasks = await healthyTasks(SERVICE, 3, 60_000);
  expect(tasks.map((t) => t.image)).toEqual([IMAGE_B, IMAGE_B, IMAGE_B]);
});

it('never admits an agent started on the overlay network without the cluster secret', async () => {
  tasks = await healthyTasks(SERVICE, 3, 60_000);
  const refusals = async (): Promise<number> =>
    (await Promise.all(tasks.map((t) => statusOf(t.id)))).reduce(
      (n, s) =>
        n +
        Object.entries(s.securityRefusals)
          .filter(([k]) => k.startsWith('cluster_auth'))
          .reduce((a, [, v]) => a + Number(v), 0),
      0,
    );
  const before = await refusals();
  await runBeside(NETWORK, INTRUDER, IMAGE_B, []);
  // It does try (the members count its refused messages)…
  expect(await eventually(async () => (await refusals()) > before, 60_000, 1000)).toBe(true);
  // …and for as long as we watch, no task lists it, nor it any task as alive.
  const until = Date.now() + 12_000;
  while (Date.now() < until) {
    for (const t of tasks)
      expect((await membersOf(t.id)).map((m) => m.node_id)).not.toContain(INTRUDER);
    const seen = (await membersOf(INTRUDER)).filter((m) => !m.self && m.state === 'alive');
    expect(seen).toEqual([]);
    await new Promise((r) => setTimeout(r, 2000));
  }
  await sh('docker', ['rm', '-f', INTRUDER]);
});

it('spreads `left` for every task on docker stack rm, before they exit', async () => {
  tasks = await healthyTasks(SERVICE, 3, 60_000);
  const ids = await Promise.all(tasks.map(async (t) => (await statusOf(t.id)).nodeId));
  expect(
    await eventually(
      async () => {
        const alive = (await membersOf(OBSERVER))
          .filter((m) => m.state === 'alive')
          .map((m) => m.node_id);
        return ids.every((id) => alive.includes(id));
      },
      60_000,
      1000,
    ),
  ).toBe(true);
  await sh('docker', ['stack', 'rm', STACK]);
  expect(
    await eventually(
      async () => {
        const m = await membersOf(OBSERVER);
        return ids.every((id) => m.find((x) => x.node_id === id)?.state === 'left');
      },
      30_000,
      500,
    ),
  ).toBe(true);
  await sh('docker', ['rm', '-f', OBSERVER]);
  await removeStack(STACK);
});

it('deploys the mTLS variant; btctl with the client certificate works, without it does not', async () => {
  const pki = makeTestPki();
  // Test keys, readable by the client container's uid 1000.
  chmodSync(pki.dir, 0o755);
  for (const f of readdirSync(pki.dir)) chmodSync(join(pki.dir, f), 0o644);
  await run('secret', 'create', 'btoverlay_tls_ca', pki.caCert);
  await run('secret', 'create', 'btoverlay_tls_cert', pki.serverCert);
  await run('secret', 'create', 'btoverlay_tls_key', pki.serverKey);
  const at = Date.now();
  await stackDeploy(TLS_STACK, [stackFile, STACK_TLS_FILE, TEST_OVERRIDE], IMAGE_B);
  // Healthy means the image's health check (btctl with BTCTL_TLS_*) passed.
  const tls = await healthyTasks(`${TLS_STACK}_btagent`, 3, 3 * 60_000);
  const ids = await Promise.all(tls.map(async (t) => (await statusOf(t.id)).nodeId));
  expect(await eventually(() => allSeeAlive(tls, ids), 90_000, 1000)).toBe(true);
  log(`mTLS deploy to 3 alive members: ${((Date.now() - at) / 1000).toFixed(1)} s`);
  // A record announced on one task (btctl inside it uses BTCTL_TLS_*), looked up from
  // another container on the overlay with the operator's client certificate.
  const hash = randomInfoHash();
  const announced = await btctlIn(tls[0]!.id, ['announce', hash, '--addr', '127.0.0.1:7200']);
  expect([announced.code, announced.stderr]).toEqual([0, '']);
  const client = (certArgs: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    sh('docker', [
      'run',
      '--rm',
      '--network',
      `${TLS_STACK}_overlay`,
      '-v',
      `${pki.dir}:/pki:ro`,
      '--entrypoint',
      'node',
      IMAGE_B,
      '/app/bin/btctl.js',
      'lookup',
      '--json',
      hash,
      '--node',
      // tasks.btagent, not the VIP `btagent`: the VIP did not answer a container beside
      // the service (EHOSTUNREACH, engine 20.10).
      'tasks.btagent:6000',
      '--timeout',
      '15s',
      '--tls-ca',
      '/pki/ca.crt',
      '--tls-server-name',
      'btagent',
      ...certArgs,
    ]);
  const withCert = ['--tls-cert', '/pki/client.crt', '--tls-key', '/pki/client.key'];
  let ok = { code: -1, stdout: '', stderr: '' };
  expect(
    await eventually(
      async () => (ok = await client(withCert)).stdout.includes('127.0.0.1:7200'),
      30_000,
      1000,
    ),
  ).toBe(true);
  expect([ok.code, ok.stderr]).toEqual([0, '']);
  const refused = await client([]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/certificate required/);
  await removeStack(TLS_STACK);
});
