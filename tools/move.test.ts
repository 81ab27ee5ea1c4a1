import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { move, report } from './move.js';

/** A scratch tree shaped like the project's: sources, a test, bin/, docs, package.json. */
function fixture(): string {
  const root = mkdtempSync(join(tmpdir(), 'move-fixture-'));
  const files: Record<string, string> = {
    'agent/store/store.ts': "import { ttl } from '../errors.js';\nexport const store = ttl;\n",
    'agent/store/index.ts': "export { store } from './store.js';\n",
    'agent/errors.ts': 'export const ttl = 1;\n',
    'agent/app/main.ts':
      "import { store } from '../store/index.js';\nimport { ttl } from '../errors.js';\n" +
      "const later = () => import('../store/store.js');\nexport { store, ttl, later };\n",
    'agent/storage.ts': "export const other = 'agent/storage.ts is not agent/store';\n",
    'test/store.test.ts':
      "import { store } from '../agent/store/store.js';\n" +
      "const lock = join(ROOT, 'dist', 'agent', 'store', 'store.js');\n" +
      "const path = 'dist/agent/store/store.js';\nvoid store;\n",
    'bin/agent.js': "import '../dist/agent/app/main.js';\n",
    'package.json': '{ "scripts": { "x": "node dist/agent/store/index.js" } }\n',
    'docs/design.md': 'The Store (`agent/store/store.ts`; see `store/store.ts`).\n',
  };
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    writeFileSync(join(root, f), text);
  }
  return root;
}

const read = (root: string, f: string): string => readFileSync(join(root, f), 'utf8');

describe('npm run move', () => {
  let root: string;
  beforeEach(() => (root = fixture()));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('--dry-run counts what a folder move would touch and changes nothing', () => {
    const plan = move(root, 'agent/store', 'agent/core/store', true);
    // main.ts: 2 (index, import()); test: 1; store.ts's own '../errors.js': 1.
    expect(plan.imports).toBe(4);
    expect([...plan.importFiles].sort()).toEqual([
      'agent/app/main.ts',
      'agent/store/store.ts',
      'test/store.test.ts',
    ]);
    expect(plan.strings).toBe(3); // package.json, the test's string, the doc's full path
    expect(report(plan, true)).toMatch(/^would move 2 file\(s\); 4 import\(s\) rewritten in 3/);
    expect(existsSync(join(root, 'agent/store/store.ts'))).toBe(true);
    expect(read(root, 'agent/app/main.ts')).toContain("'../store/index.js'");
  });

  it('moves a folder, rewriting imports (.js kept) and path strings, listing the rest', () => {
    const plan = move(root, 'agent/store', 'agent/core/store', false);
    expect(existsSync(join(root, 'agent/core/store/store.ts'))).toBe(true);
    expect(existsSync(join(root, 'agent/store'))).toBe(false);
    expect(read(root, 'agent/app/main.ts')).toBe(
      "import { store } from '../core/store/index.js';\nimport { ttl } from '../errors.js';\n" +
        "const later = () => import('../core/store/store.js');\nexport { store, ttl, later };\n",
    );
    expect(read(root, 'agent/core/store/store.ts')).toContain("from '../../errors.js'");
    expect(read(root, 'agent/core/store/index.ts')).toContain("from './store.js'");
    expect(read(root, 'test/store.test.ts')).toContain("from '../agent/core/store/store.js'");
    expect(read(root, 'test/store.test.ts')).toContain("'dist/agent/core/store/store.js'");
    expect(read(root, 'package.json')).toContain('dist/agent/core/store/index.js');
    expect(read(root, 'docs/design.md')).toContain('`agent/core/store/store.ts`');
    // A similar name is left alone.
    expect(read(root, 'agent/storage.ts')).toContain("'agent/storage.ts is not agent/store'");
    // Path segments and short forms cannot be rewritten safely: listed.
    const listed = plan.unresolved.join('\n');
    expect(listed).toContain(
      "test/store.test.ts:2: const lock = join(ROOT, 'dist', 'agent', 'store', 'store.js');",
    );
    expect(listed).toContain('docs/design.md:1:');
  });

  it('moves one file and renames it, fixing its importers and its own imports', () => {
    move(root, 'agent/errors.ts', 'agent/core/failures.ts', false);
    expect(read(root, 'agent/app/main.ts')).toContain("from '../core/failures.js'");
    expect(read(root, 'agent/store/store.ts')).toContain("from '../core/failures.js'");
    expect(existsSync(join(root, 'agent/errors.ts'))).toBe(false);
  });

  it('refuses a missing source or an existing target', () => {
    expect(() => move(root, 'agent/nope', 'agent/x', true)).toThrow(/no such file/);
    expect(() => move(root, 'agent/store', 'agent/app', true)).toThrow(/already exists/);
  });
});
