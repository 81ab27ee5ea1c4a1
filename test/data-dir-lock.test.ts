import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE } from '../agent/fs/index.js';
import { BTAGENT, ROOT, run, startAgent } from './helpers/agent-process.js';

/** A pid that is certainly dead: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

/**
 * Processes racing to take over one stale lock: each imports the built module (dist/),
 * waits for a common start time, tries, and prints "won" or "refused".
 */
describe('racing takeovers', () => {
  const LOCK_JS = join(ROOT, 'dist', 'agent', 'fs', 'lock.js');

  it('of a dead holder end with exactly one winner', async () => {
    for (let round = 0; round < 2; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'bto-lock-race-'));
      writeFileSync(join(dir, LOCK_FILE), `${deadPid()} ${hostname()} dead\n`);
      const at = Date.now() + 600;
      const script = `
        const { acquireDataDirLock } = await import(${JSON.stringify(LOCK_JS)});
        while (Date.now() < ${at}) {}
        // Everyone judges the lock stale before anyone takes it over: the widest race.
        const pause = () => { const t = Date.now() + 300; while (Date.now() < t) {} };
        try { acquireDataDirLock(${JSON.stringify(dir)}, { beforeTakeover: pause }); console.log('won'); }
        catch (e) { console.log(e.name === 'DataDirLockedError' ? 'refused' : 'error ' + e.message); }
        setTimeout(() => {}, 1500);`;
      const outs = await Promise.all(
        Array.from(
          { length: 6 },
          () =>
            new Promise<string>((resolve) => {
              const c = spawn(process.execPath, ['--input-type=module', '-e', script]);
              let out = '';
              c.stdout.on('data', (d: Buffer) => (out += d.toString()));
              c.once('exit', () => resolve(out.trim()));
            }),
        ),
      );
      expect(outs.filter((o) => o === 'won')).toHaveLength(1);
      expect(outs.filter((o) => o === 'refused')).toHaveLength(5);
      // No temp or takeover file is left behind; the winner's LOCK stays (it was killed by exit).
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    }
  });
});

describe('an agent holds its data dir for its whole life', () => {
  it('refuses a second agent on the same dir, naming dir and pid; takes over after kill -9', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'bto-lock-agent-')), 'data');
    const args = ['--data-dir', dataDir, '--peer-port', '0'];
    const first = await startAgent(args);
    try {
      // Taken at start, with no torrent added.
      expect(readdirSync(dataDir)).toContain(LOCK_FILE);
      const second = await run(BTAGENT, ['run', '--listen', '127.0.0.1:0', ...args]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(dataDir);
      expect(second.stderr).toContain(`pid ${first.child.pid}`);
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    // The holder is dead: the next agent takes the stale lock over, and releases it on stop.
    const next = await startAgent(args);
    expect(await next.stop()).toBe(0);
    expect(readdirSync(dataDir)).not.toContain(LOCK_FILE);
  });
});
