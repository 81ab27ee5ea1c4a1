import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../control/client.js';
import { randomInfoHash, ROOT, startAgent } from './helpers/agent-process.js';
import { requireTools } from './helpers/tools.js';

requireTools(
  'protoc',
  '/usr/bin/grpc_python_plugin',
  '/usr/bin/python3',
  'python3:grpc',
  'python3:google.protobuf',
);

// Other languages reach agents through proto/: this generates Python stubs with
// Debian's protoc and grpc_python_plugin (installed by .ci/run) and runs the example.
describe('tools/examples/python/lookup.py', () => {
  const out = mkdtempSync(join(tmpdir(), 'btoverlay-py-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('looks up providers from a real agent with stubs generated from proto/', async () => {
    expect(existsSync('/usr/bin/grpc_python_plugin')).toBe(true); // apt-get install protobuf-compiler-grpc
    execFileSync('protoc', [
      '-I',
      join(ROOT, 'proto'),
      `--python_out=${out}`,
      `--grpc_out=${out}`,
      '--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin',
      ...['provider', 'overlay', 'control'].map((f) =>
        join(ROOT, 'proto', 'btoverlay', 'v1', `${f}.proto`),
      ),
    ]);
    const agent = await startAgent();
    const client = connect(agent.addr);
    try {
      const ih = randomInfoHash();
      await client.announce({
        infoHash: Buffer.from(ih, 'hex'),
        addr: '10.9.0.1:6881',
        peerId: Buffer.from('-PY0001-abcdefghijkl'),
        left: 5n,
      });
      await new Promise((r) => setTimeout(r, 5));
      await client.announce({ infoHash: Buffer.from(ih, 'hex'), addr: '10.9.0.2:6881', left: 0n });
      const stdout = execFileSync(
        '/usr/bin/python3',
        [join(ROOT, 'tools/examples/python/lookup.py'), agent.addr, ih],
        {
          env: { ...process.env, PYTHONPATH: out },
        },
      ).toString();
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      expect(lines.map((l) => l.slice(0, 3))).toEqual([
        ['10.9.0.2:6881', '', '0'],
        ['10.9.0.1:6881', '-PY0001-abcdefghijkl', '5'],
      ]);
      expect(Math.abs(Number(lines[0][3]) - Date.now())).toBeLessThan(60_000);
    } finally {
      client.close();
      await agent.stop();
    }
  });
});
