/**
 * `npm run move -- FROM TO [--dry-run]`: moves a file or a folder of the source
 * tree and rewrites what names it, so a move is one command and one commit:
 *
 * 1. every relative import, export and `import()` of a moved file across agent/,
 *    control/, tools/ and test/ (found with ts-morph; `.js` suffixes kept), and
 *    the moved files' own imports of what did not move;
 * 2. path strings naming the moved sources or their compiled output (`agent/x.ts`,
 *    `dist/agent/x.js`, `agent/x/`) in bin/, package.json, Dockerfile, .ci/,
 *    tools/, test/, docs/ and the README;
 * 3. and lists what it could not: strings that name a moved file by its bare name
 *    or in path segments (`join('dist', 'agent', 'x.js')`), for a look by hand.
 *
 * `--dry-run` prints the counts and changes nothing. Files move with `git mv`
 * where the tree is a git checkout, so history follows. Run from the package root.
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { Node, Project, SyntaxKind, type SourceFile, type StringLiteral } from 'ts-morph';

/** Folders whose TypeScript imports are rewritten. */
export const SOURCE_ROOTS = ['agent', 'control', 'tools', 'test'];
/** Files and folders whose path strings are rewritten (besides the TypeScript sources). */
export const TEXT_PLACES = [
  'bin',
  'package.json',
  'Dockerfile',
  '.ci',
  'tools',
  'test',
  'docs',
  'README.md',
];
/** Text files looked into for path strings. */
const TEXT_EXT = /\.(ts|js|mjs|cjs|json|md|sh|yml|yaml|py|lua)$|^Dockerfile$|^run$/;

/** What a move changes (or would). */
export interface MovePlan {
  /** Moved files: old → new, relative to the root, posix separators. */
  readonly files: Map<string, string>;
  /** Import specifiers rewritten, and in how many files. */
  imports: number;
  readonly importFiles: Set<string>;
  /** Path strings rewritten, and in how many files. */
  strings: number;
  readonly stringFiles: Set<string>;
  /** "file:line: text" of mentions left for a look by hand. */
  readonly unresolved: string[];
}

const toPosix = (p: string): string => p.split(sep).join('/');

/** Every file under `dir` (relative to `root`), recursively; `dir` itself when a file. */
function walk(root: string, dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  if (statSync(abs).isFile()) return [toPosix(dir)];
  return readdirSync(abs, { withFileTypes: true }).flatMap((e) =>
    e.name === 'node_modules' || e.name === 'dist' ? [] : walk(root, posix.join(dir, e.name)),
  );
}

/** The relative specifier from `fromFile` to `toFile` (both .ts paths), in `.js` form. */
function specifier(fromFile: string, toFile: string): string {
  let rel = posix.relative(posix.dirname(fromFile), toFile).replace(/\.ts$/, '.js');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return rel;
}

/** Module specifier string literals of a source file: imports, exports, import(), mocks. */
function specifierLiterals(sf: SourceFile): StringLiteral[] {
  const out: StringLiteral[] = [];
  for (const d of [...sf.getImportDeclarations(), ...sf.getExportDeclarations()]) {
    const s = d.getModuleSpecifier();
    if (s !== undefined && Node.isStringLiteral(s)) out.push(s);
  }
  for (const call of sf.getDescendantsOfKind(SyntaxKind.CallExpression)) {
    const callee = call.getExpression().getText();
    if (callee !== 'import' && !/^jest\.(unstable_mockModule|mock)$/.test(callee)) continue;
    const arg = call.getArguments()[0];
    if (arg !== undefined && Node.isStringLiteral(arg)) out.push(arg);
  }
  return out;
}

/** Plans (and unless `dryRun`, performs) moving `from` to `to` under `root`. */
export function move(root: string, from: string, to: string, dryRun: boolean): MovePlan {
  const src = toPosix(from).replace(/\/$/, '');
  const dst = toPosix(to).replace(/\/$/, '');
  if (!existsSync(join(root, src))) throw new Error(`${src}: no such file or folder`);
  if (existsSync(join(root, dst))) throw new Error(`${dst}: already exists`);
  const isDir = statSync(join(root, src)).isDirectory();
  const files = new Map<string, string>();
  for (const f of walk(root, src)) files.set(f, isDir ? dst + f.slice(src.length) : dst);
  const plan: MovePlan = {
    files,
    imports: 0,
    importFiles: new Set(),
    strings: 0,
    stringFiles: new Set(),
    unresolved: [],
  };
  const newPath = (f: string): string => files.get(f) ?? f;

  // 1. Imports, with the tree's TypeScript loaded as it is.
  const project = new Project({
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
  });
  for (const r of SOURCE_ROOTS) {
    for (const f of walk(root, r))
      if (f.endsWith('.ts')) project.addSourceFileAtPath(join(root, f));
  }
  const edits = new Map<string, string>(); // file (old path) → new text
  for (const sf of project.getSourceFiles()) {
    const file = toPosix(relative(root, sf.getFilePath()));
    let changed = 0;
    for (const lit of specifierLiterals(sf)) {
      const spec = lit.getLiteralValue();
      if (!spec.startsWith('.')) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      if (!files.has(target) && !files.has(file)) continue;
      const next = specifier(newPath(file), newPath(target));
      if (next === spec) continue;
      lit.setLiteralValue(next);
      changed++;
    }
    if (changed > 0) {
      plan.imports += changed;
      plan.importFiles.add(file);
      edits.set(file, sf.getFullText());
    }
  }

  // 2. Path strings in text files (the TypeScript sources included, after step 1).
  const forms: [RegExp, string][] = [];
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A path starts at a boundary: not inside another name or a longer path.
  const edge = '(?<![\\w.-])';
  if (isDir) {
    // A folder is named followed by '/', or ending a path (a quote, a space, the line's end).
    forms.push([new RegExp(`${edge}(dist/)?${esc(src)}(?=/|[^\\w./-]|$)`, 'gm'), `$1${dst}`]);
  } else {
    const base = src.replace(/\.ts$/, '');
    const dbase = dst.replace(/\.ts$/, '');
    forms.push([
      new RegExp(`${edge}(dist/)?${esc(base)}\\.(ts|js|d\\.ts)\\b`, 'g'),
      `$1${dbase}.$2`,
    ]);
  }
  // Short forms (relative to the moved thing's parent, as docs write them inside a
  // folder) and bare names: a mention not already rewritten above is listed.
  const parent = posix.dirname(src);
  const shorts = [...files.keys()].map((f) => posix.relative(parent, f).replace(/\.ts$/, ''));
  const bases = new Set([...files.keys()].map((f) => posix.basename(f).replace(/\.ts$/, '')));
  const textFiles = new Set<string>();
  for (const p of TEXT_PLACES)
    for (const f of walk(root, p)) if (TEXT_EXT.test(posix.basename(f))) textFiles.add(f);
  for (const f of edits.keys()) textFiles.add(f);
  for (const file of textFiles) {
    const before = edits.get(file) ?? readFileSync(join(root, file), 'utf8');
    let count = 0;
    let after = before;
    for (const [re, rep] of forms) {
      after = after.replace(re, (...m: string[]) => {
        count++;
        return rep.replace('$1', m[1] ?? '').replace('$2', m[2] ?? '');
      });
    }
    if (count > 0) {
      plan.strings += count;
      plan.stringFiles.add(file);
      edits.set(file, after);
    }
    // 3. Mentions by bare name or in segments, outside import specifiers: listed.
    after.split('\n').forEach((line, i) => {
      if (/^\s*(import|export)\b.*from\s+['"]/.test(line) || /\bimport\(['"]/.test(line)) return;
      for (const short of shorts) {
        const mention = new RegExp(`(?<![\\w./-])${esc(short)}\\.(ts|js)\\b`);
        if (!mention.test(line)) continue;
        plan.unresolved.push(`${file}:${i + 1}: ${line.trim()}`);
        return;
      }
      // A moved file's name as a string of its own: a path built from segments.
      for (const base of bases) {
        if (!new RegExp(`['"\`]${esc(base)}\\.(ts|js)['"\`]`).test(line)) continue;
        plan.unresolved.push(`${file}:${i + 1}: ${line.trim()}`);
        return;
      }
    });
  }
  if (dryRun) return plan;

  // Write the edits, then move the files (git mv keeps their history).
  for (const [file, text] of edits) writeFileSync(join(root, file), text);
  const git = spawnSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: root }).status === 0;
  for (const [oldPath, nextPath] of files) {
    mkdirSync(dirname(join(root, nextPath)), { recursive: true });
    if (!git || spawnSync('git', ['mv', oldPath, nextPath], { cwd: root }).status !== 0) {
      renameSync(join(root, oldPath), join(root, nextPath));
    }
  }
  // What a folder move leaves behind is empty folders (git tracks none): removed.
  if (isDir) removeEmptyDirs(join(root, src));
  return plan;
}

/** Removes `dir` and the folders under it, bottom up, where they hold nothing. */
function removeEmptyDirs(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return;
  for (const e of readdirSync(dir)) removeEmptyDirs(join(dir, e));
  if (readdirSync(dir).length === 0) rmdirSync(dir);
}

/** Prints a plan's counts and what is left for a look by hand. */
export function report(plan: MovePlan, dryRun: boolean): string {
  const touched = new Set([...plan.importFiles, ...plan.stringFiles]);
  const lines = [
    `${dryRun ? 'would move' : 'moved'} ${plan.files.size} file(s); ` +
      `${plan.imports} import(s) rewritten in ${plan.importFiles.size} file(s), ` +
      `${plan.strings} path string(s) in ${plan.stringFiles.size} file(s); ${touched.size} file(s) touched`,
  ];
  if (plan.unresolved.length > 0) {
    lines.push(`not rewritten (a bare name or path segments; check by hand):`);
    for (const u of plan.unresolved) lines.push(`  ${u}`);
  }
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('move.js')) {
  const args = process.argv.slice(2);
  const dryRun = args.includes('--dry-run');
  const [from, to] = args.filter((a) => a !== '--dry-run');
  if (from === undefined || to === undefined) {
    console.error('usage: npm run move -- FROM TO [--dry-run]');
    process.exit(2);
  }
  try {
    console.log(report(move(resolve('.'), from, to, dryRun), dryRun));
  } catch (err) {
    console.error(`move: ${(err as Error).message}`);
    process.exit(2);
  }
}
