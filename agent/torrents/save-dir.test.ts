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

async function refused(fn: () => Promise<unknown>): Promise<InvalidArgumentError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).field).toBe('save_dir');
    return err as InvalidArgumentError;
  }
  throw new Error('not refused');
}

it('resolves empty, relative and absolute-inside paths under the root', async () => {
  expect(await resolveSaveDir('', strict())).toBe(root);
  expect(await resolveSaveDir('movies', strict())).toBe(join(root, 'movies'));
  expect(await resolveSaveDir('a/./b//c/', strict())).toBe(join(root, 'a', 'b', 'c'));
  expect(await resolveSaveDir('a/../b', strict())).toBe(join(root, 'b'));
  expect(await resolveSaveDir(join(root, 'x'), strict())).toBe(join(root, 'x'));
});

it('creates a missing root', async () => {
  rmSync(root, { recursive: true });
  expect(await resolveSaveDir('new/dir', strict())).toBe(join(root, 'new', 'dir'));
});

it('refuses absolute paths outside, .. escapes and root look-alikes', async () => {
  expect((await refused(() => resolveSaveDir('/etc', strict()))).message).toContain(
    '--allow-any-save-dir',
  );
  await refused(() => resolveSaveDir('..', strict()));
  await refused(() => resolveSaveDir('a/../../outside', strict()));
  await refused(() => resolveSaveDir(join(root, '..', 'outside'), strict()));
  await refused(() => resolveSaveDir(root + '-sibling', strict())); // prefix, not a parent
  await refused(() => resolveSaveDir('x\0y', strict()));
  await refused(() => resolveSaveDir('a'.repeat(5000), strict()));
});

it('refuses a symlink inside the root that leads outside, accepts one that stays inside', async () => {
  symlinkSync(outside, join(root, 'link'));
  await refused(() => resolveSaveDir('link', strict()));
  await refused(() => resolveSaveDir('link/deeper/still', strict()));
  mkdirSync(join(root, 'real'));
  symlinkSync(join(root, 'real'), join(root, 'inner'));
  expect(await resolveSaveDir('inner/x', strict())).toBe(join(root, 'inner', 'x'));
});

it('refuses a dangling symlink (creating through it would create its target)', async () => {
  symlinkSync(join(outside, 'not-yet'), join(root, 'dangling'));
  await refused(() => resolveSaveDir('dangling', strict()));
  await refused(() => checkFiles([join(root, 'dangling')], strict()));
});

it('accepts a root that is itself reached through a symlink', async () => {
  symlinkSync(root, join(base, 'root-link'));
  const policy = { root: join(base, 'root-link'), allowAny: false };
  expect(await resolveSaveDir('d', policy)).toBe(join(base, 'root-link', 'd'));
  await refused(() => resolveSaveDir(outside, policy));
});

it("checks the torrent's file paths: a pre-existing symlink named like its content escapes", async () => {
  const dir = await resolveSaveDir('', strict());
  await checkFiles([join(dir, 'show', 'e1.mkv'), join(dir, 'show', 'e2.mkv')], strict());
  symlinkSync(outside, join(root, 'show'));
  const err = await refused(() => checkFiles([join(dir, 'show', 'e1.mkv')], strict()));
  expect(err.message).toContain('e1.mkv');
  writeFileSync(join(outside, 'target.bin'), 'x');
  symlinkSync(join(outside, 'target.bin'), join(root, 'single.bin'));
  await refused(() => checkFiles([join(dir, 'single.bin')], strict()));
});

it('--allow-any-save-dir: absolute paths anywhere, relative ones still under the root', async () => {
  const any = { root, allowAny: true };
  expect(await resolveSaveDir(outside, any)).toBe(outside);
  expect(await resolveSaveDir('rel', any)).toBe(join(root, 'rel'));
  symlinkSync(outside, join(root, 'link'));
  await expect(checkFiles([join(root, 'link', 'f')], any)).resolves.toBeUndefined();
  await refused(() => resolveSaveDir('x\0', any));
});
