/**
 * The deployment files against the real CLI and the real agent: the Swarm stack
 * is valid to `docker stack config` (the docker CLI checks it against the compose
 * schema offline; no engine needed), says what docs/swarm.md promises (global,
 * host-mode ports, dns:tasks bootstrap, a volume at the data dir, secrets where
 * the flags point), and uses only flags and variables that `btagent run`
 * accepts; the Dockerfile's HEALTHCHECK command really tells a serving agent from
 * a missing one. test/swarm/ builds the image and deploys the stack.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BTAGENT, ROOT, run, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { requireTools } from './helpers/tools.js';

const STACK = join(ROOT, 'tools', 'deploy', 'stack.yml');
const STACK_TLS = join(ROOT, 'tools', 'deploy', 'stack.tls.yml');
// `docker stack config` needs only the CLI (no engine); npm test's pretest installs it.
requireTools('docker');

/** `docker stack config` of the given files: the normalised compose file. */
function stackConfig(...files: string[]): string {
  const env = { ...process.env };
  delete env['BTOVERLAY_IMAGE'];
  return execFileSync('docker', ['stack', 'config', ...files.flatMap((f) => ['-c', f])], {
    encoding: 'utf8',
    env,
  });
}

/** The items of the YAML block list under `key:` (as `docker stack config` prints them). */
function listUnder(yaml: string, key: string): string[] {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => l.trim() === `${key}:`);
  if (at < 0) return [];
  const indent = lines[at]!.search(/\S/);
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.search(/\S/) <= indent && !l.trimStart().startsWith('- ')) break;
    const m = /^\s*- (.*)$/.exec(l);
    if (m !== null) out.push(m[1]!);
  }
  return out;
}

/** `KEY: value` pairs of the service's environment block. */
function environment(yaml: string): Map<string, string> {
  const lines = yaml.split('\n');
  const at = lines.findIndex((l) => l.trim() === 'environment:');
  const indent = lines[at]!.search(/\S/);
  const env = new Map<string, string>();
  for (const l of lines.slice(at + 1)) {
    if (l.search(/\S/) <= indent) break;
    const m = /^\s*([A-Z0-9_]+): '?([^']*)'?$/.exec(l);
    if (m !== null) env.set(m[1]!, m[2]!);
  }
  return env;
}

/** Option names and env variables `btagent run --help` lists. */
function agentHelp(): { flags: Set<string>; envs: Set<string> } {
  const help = execFileSync(process.execPath, [BTAGENT, 'run', '--help'], { encoding: 'utf8' });
  return {
    flags: new Set([...help.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]!)),
    envs: new Set([...help.matchAll(/env: (BTAGENT_[A-Z0-9_]+)/g)].map((m) => m[1]!)),
  };
}

describe('tools/deploy/stack.yml', () => {
  it('is valid to docker stack config, alone and with the mTLS file', () => {
    expect(() => stackConfig(STACK)).not.toThrow();
    expect(() => stackConfig(STACK, STACK_TLS)).not.toThrow();
  });

  it('runs one agent per node, reachable on the node, upgraded one node at a time', () => {
    const y = stackConfig(STACK);
    expect(y).toMatch(/^\s+mode: global$/m);
    // Every published port in host mode (no ingress mesh: real client addresses).
    const modes = [...y.matchAll(/^\s+- mode: (\w+)\n\s+target: (\d+)/gm)].map((m) => [m[2], m[1]]);
    expect(modes).toEqual([
      ['6000', 'host'],
      ['6881', 'host'],
    ]);
    expect(y).toMatch(/update_config:\n(\s+\w+: .*\n)*?\s+parallelism: 1\n/);
    expect(y).toMatch(/update_config:\n(\s+\w+: .*\n)*?\s+order: stop-first\n/);
    expect(y).toMatch(/limits:\n\s+cpus: .*\n\s+memory: /);
  });

  it('gives the flags what they point at: bootstrap, data volume, secrets', () => {
    const y = stackConfig(STACK, STACK_TLS);
    const command = listUnder(y, 'command');
    expect(command[0]).toBe('run');
    const flag = (name: string): string | undefined =>
      command.find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1);
    expect(flag('--bootstrap')).toBe('dns:tasks.btagent:6000');
    expect(flag('--listen')).toBe('0.0.0.0:6000');
    expect(flag('--peer-port')).toBe('6881');
    // The data dir is a per-slot dir on a volume, so identity and torrents survive task
    // replacement, and two tasks on one node never share one (nor a node id).
    const env = environment(y);
    const dataDir = env.get('BTAGENT_DATA_DIR') ?? '';
    expect(flag('--data-dir')).toBeUndefined();
    expect(dataDir).toBe('/var/lib/btoverlay/{{.Task.Slot}}');
    expect(y).toContain(
      `type: volume\n        source: btoverlay-data\n        target: /var/lib/btoverlay\n`,
    );
    expect(env.get('BTAGENT_NODE_ID')).toBe('{{.Node.Hostname}}-{{.Task.Slot}}');
    // Every /run/secrets/X a flag or variable names is a secret mounted as X.
    const targets = new Set([...y.matchAll(/^\s+target: (btoverlay_\w+)$/gm)].map((m) => m[1]));
    const paths = [...command, ...env.values()].flatMap((v) =>
      [...v.matchAll(/\/run\/secrets\/(\w+)/g)].map((m) => m[1]),
    );
    expect(paths.length).toBeGreaterThanOrEqual(4);
    for (const p of paths) expect([p, targets.has(p)]).toEqual([p, true]);
    expect(flag('--cluster-key')).toBe('/run/secrets/btoverlay_cluster_key');
  });

  it('uses only flags and environment variables btagent accepts', () => {
    const { flags, envs } = agentHelp();
    const y = stackConfig(STACK, STACK_TLS);
    const used = listUnder(y, 'command')
      .slice(1)
      .map((c) => c.split('=')[0]!);
    expect(used.length).toBeGreaterThan(4);
    for (const f of used) expect([f, flags.has(f)]).toEqual([f, true]);
    for (const name of environment(y).keys()) {
      // BTCTL_* are for the health check (btctl); BTAGENT_SWARM_SERVICE for the entrypoint.
      if (name.startsWith('BTCTL_') || name === 'BTAGENT_SWARM_SERVICE') continue;
      expect([name, envs.has(name)]).toEqual([name, true]);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, '');
  /** The JSON array of an exec-form instruction, with /app mapped to this checkout. */
  const execForm = (instruction: string): string[] => {
    const m = new RegExp(`^${instruction} .*?(\\[.*\\])\\s*$`, 'm').exec(dockerfile);
    if (m === null) throw new Error(`no exec-form ${instruction}`);
    return (JSON.parse(m[1]!) as string[]).map((a) => a.replace(/^\/app\//, `${ROOT}/`));
  };

  it('runs as an unprivileged user from a multi-stage build on a slim Node 20 image', () => {
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20[\w.-]*slim$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^EXPOSE 6000\/tcp 6881\/tcp$/m);
  });

  it('starts the agent through its entrypoint with its default command', async () => {
    const entry = execForm('ENTRYPOINT');
    expect(entry[0]).toBe('node');
    expect(existsSync(entry[1]!)).toBe(true);
    // The image's own command, on a free loopback port and a scratch data dir.
    const cmd = execForm('CMD');
    const dataDir = mkdtempSync(join(tmpdir(), 'btoverlay-deploy-'));
    const args = cmd.map((a, i) =>
      a === '0.0.0.0:6000' ? '127.0.0.1:0' : cmd[i - 1] === '--data-dir' ? dataDir : a,
    );
    const child = spawn(process.execPath, [entry[1]!, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('agent did not listen within 15 s')), 15_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          const l = JSON.parse(line) as Record<string, unknown>;
          if (l.msg === 'listening') {
            clearTimeout(t);
            resolve(l);
          }
        });
        child.once('exit', (code) => reject(new Error(`agent exited with ${code}`)));
      });
      expect(String(listening.addr)).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe('HEALTHCHECK', () => {
    let agent: AgentProcess;
    beforeAll(async () => {
      agent = await startAgent();
    });
    afterAll(async () => {
      await agent?.stop();
    });

    it('exits 0 against a serving agent and non-zero where none listens', async () => {
      const hc = execForm('HEALTHCHECK');
      expect(hc.slice(0, 3)).toEqual(['node', join(ROOT, 'bin', 'btctl.js'), 'health']);
      const at = (addr: string): string[] =>
        hc.slice(1).map((a) => (a === '127.0.0.1:6000' ? addr : a));
      const ok = await run(at(agent.addr)[0]!, at(agent.addr).slice(1));
      expect([ok.code, ok.stdout.trim()]).toEqual([0, 'SERVING']);
      const down = await run(at('127.0.0.1:1')[0]!, at('127.0.0.1:1').slice(1));
      expect(down.code).not.toBe(0);
    });
  });
});
