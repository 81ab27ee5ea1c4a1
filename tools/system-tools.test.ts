import {
  SYSTEM_TOOLS,
  describeMissing,
  ensureSystemTools,
  findExecutable,
  missingTools,
  packagesFor,
  type SystemTool,
} from './system-tools.js';

const ABSENT: SystemTool = { name: 'btoverlay-no-such-program', apt: 'no-such-pkg', usedBy: 'x' };
const ABSENT_MODULE: SystemTool = {
  name: 'python3:btoverlay_no_such_module',
  apt: 'python3-no-such',
  usedBy: 'y',
};

describe('system tools the suite needs', () => {
  it('finds executables in PATH or by absolute path, and not absent ones', () => {
    expect(findExecutable('node')).toBe(true);
    expect(findExecutable(process.execPath)).toBe(true);
    expect(findExecutable(ABSENT.name)).toBe(false);
    expect(findExecutable('/nonexistent/bin/tool')).toBe(false);
  });

  it('reports exactly the absent programs and Python modules', () => {
    const node: SystemTool = { name: 'node', apt: 'nodejs', usedBy: 'everything' };
    const python = SYSTEM_TOOLS.find((t) => t.name === '/usr/bin/python3')!;
    const present = findExecutable(python.name) ? [python] : [];
    expect(missingTools([node, ...present, ABSENT, ABSENT_MODULE])).toEqual([
      ABSENT,
      ABSENT_MODULE,
    ]);
  });

  it('names each missing tool with its package, each package once', () => {
    const docker = SYSTEM_TOOLS.filter((t) => t.apt === 'docker.io');
    expect(docker.length).toBe(2);
    expect(packagesFor([...docker, ABSENT])).toEqual(['docker.io', 'no-such-pkg']);
    expect(describeMissing([ABSENT])).toBe('btoverlay-no-such-program (apt: no-such-pkg; x)');
  });

  it('stops at once, naming the packages, when it may not install', () => {
    const lines: string[] = [];
    const started = Date.now();
    const code = ensureSystemTools({
      tools: [ABSENT, ABSENT_MODULE],
      canInstall: false,
      log: (l) => lines.push(l),
    });
    expect(code).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(lines.join('\n')).toContain('btoverlay-no-such-program (apt: no-such-pkg');
    expect(lines.join('\n')).toContain(
      'apt-get install -y --no-install-recommends no-such-pkg python3-no-such',
    );
  });

  it('passes when nothing is missing, without installing', () => {
    const node: SystemTool = { name: 'node', apt: 'nodejs', usedBy: 'everything' };
    expect(ensureSystemTools({ tools: [node], canInstall: false, log: () => {} })).toBe(0);
  });
});
