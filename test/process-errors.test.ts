import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { btctl, eventually, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { tempDir } from './helpers/security.js';

/**
 * Unexpected errors are seen (issue 12 item 7, docs/security.md §7) in a real agent
 * process. The faults come from a module preloaded with NODE_OPTIONS=--import, a
 * test fixture: the agent itself has no way to trigger them. SIGUSR2 #1 leaves a
 * promise rejection unhandled; #2 throws from a timer (an uncaught exception).
 */
describe('process error handlers', () => {
  let a: AgentProcess;

  beforeAll(async () => {
    const dir = tempDir('faults');
    const fixture = join(dir, 'faults.mjs');
    writeFileSync(
      fixture,
      [
        'let n = 0;',
        "process.on('SIGUSR2', () => {",
        '  n++;',
        "  if (n === 1) void Promise.reject(new Error('test fault: nobody awaited this'));",
        "  else setTimeout(() => { throw new TypeError('test fault: state is corrupt'); }, 0);",
        '});',
      ].join('\n'),
    );
    a = await startAgent(['--data-dir', join(dir, 'data')], {
      env: { NODE_OPTIONS: `--import=${fixture}` },
    });
  });
  afterAll(async () => {
    await a?.stop();
  });

  const metric = async (series: string): Promise<number> => {
    const text = await (await fetch(`http://${a.addr}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };

  it('an unhandled rejection is logged with its stack and counted, and the agent goes on', async () => {
    a.child.kill('SIGUSR2');
    const line = await a.waitForLog((l) => String(l.msg).startsWith('unhandled promise rejection'));
    expect(line.level).toBe(50);
    expect((line.err as { stack: string }).stack).toMatch(/nobody awaited this\n\s+at /);
    expect(
      await eventually(
        async () =>
          (await metric('btoverlay_process_errors_total{kind="unhandled_rejection"}')) === 1,
      ),
    ).toBe(true);
    expect(await btctl(['status', '--node', a.addr])).toMatchObject({ code: 0 });
  });

  it('an uncaught exception is logged fatal with its stack, and the process exits 70', async () => {
    a.child.kill('SIGUSR2');
    expect(await a.exited).toBe(70);
    const line = a.logs.find((l) => String(l.msg).startsWith('uncaught exception'));
    expect(line?.level).toBe(60);
    expect((line?.err as { stack: string }).stack).toMatch(
      /TypeError: test fault: state is corrupt\n\s+at /,
    );
  });
});
