import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { checkFiles, resolveSaveDir } from './save-dir.js';

let base: string;
let root: string;
let outside: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'bt-savedir-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const strict = (): { root: string; allowAny: boolean } => ({ root, allowAny: false });

function refused(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('save_dir');
    return err as InvalidArgumentError;
  }
  throw new Error('not refused');
}

it('resolves empty, relative and absolute-inside paths under the root', () => {
  expect(resolveSaveDir('', strict())).toBe(root);
  expect(resolveSaveDir('movies', strict())).toBe(join(root, 'movies'));
  expect(resolveSaveDir('a/./b//c/', strict())).toBe(join(root, 'a', 'b', 'c'));
  expect(resolveSaveDir('a/../b', strict())).toBe(join(root, 'b'));
  expect(resolveSaveDir(join(root, 'x'), strict())).toBe(join(root, 'x'));
});

it('creates a missing root', () => {
  rmSync(root, { recursive: true });
  expect(resolveSaveDir('new/dir', strict())).toBe(join(root, 'new', 'dir'));
});

it('refuses absolute paths outside, .. escapes and root look-alikes', () => {
  expect(refused(() => resolveSaveDir('/etc', strict())).message).toContain('--allow-any-save-dir');
  refused(() => resolveSaveDir('..', strict()));
  refused(() => resolveSaveDir('a/../../outside', strict()));
  refused(() => resolveSaveDir(join(root, '..', 'outside'), strict()));
  refused(() => resolveSaveDir(root + '-sibling', strict())); // prefix, not a parent
  refused(() => resolveSaveDir('x\0y', strict()));
  refused(() => resolveSaveDir('a'.repeat(5000), strict()));
});

it('refuses a symlink inside the root that leads outside, accepts one that stays inside', () => {
  symlinkSync(outside, join(root, 'link'));
  refused(() => resolveSaveDir('link', strict()));
  refused(() => resolveSaveDir('link/deeper/still', strict()));
  mkdirSync(join(root, 'real'));
  symlinkSync(join(root, 'real'), join(root, 'inner'));
  expect(resolveSaveDir('inner/x', strict())).toBe(join(root, 'inner', 'x'));
});

it('refuses a dangling symlink (creating through it would create its target)', () => {
  symlinkSync(join(outside, 'not-yet'), join(root, 'dangling'));
  refused(() => resolveSaveDir('dangling', strict()));
  refused(() => checkFiles([join(root, 'dangling')], strict()));
});

it('accepts a root that is itself reached through a symlink', () => {
  symlinkSync(root, join(base, 'root-link'));
  const policy = { root: join(base, 'root-link'), allowAny: false };
  expect(resolveSaveDir('d', policy)).toBe(join(base, 'root-link', 'd'));
  refused(() => resolveSaveDir(outside, policy));
});

it("checks the torrent's file paths: a pre-existing symlink named like its content escapes", () => {
  const dir = resolveSaveDir('', strict());
  checkFiles([join(dir, 'show', 'e1.mkv'), join(dir, 'show', 'e2.mkv')], strict());
  symlinkSync(outside, join(root, 'show'));
  const err = refused(() => checkFiles([join(dir, 'show', 'e1.mkv')], strict()));
  expect(err.message).toContain('e1.mkv');
  writeFileSync(join(outside, 'target.bin'), 'x');
  symlinkSync(join(outside, 'target.bin'), join(root, 'single.bin'));
  refused(() => checkFiles([join(dir, 'single.bin')], strict()));
});

it('--allow-any-save-dir: absolute paths anywhere, relative ones still under the root', () => {
  const any = { root, allowAny: true };
  expect(resolveSaveDir(outside, any)).toBe(outside);
  expect(resolveSaveDir('rel', any)).toBe(join(root, 'rel'));
  symlinkSync(outside, join(root, 'link'));
  expect(() => checkFiles([join(root, 'link', 'f')], any)).not.toThrow();
  refused(() => resolveSaveDir('x\0', any));
});
