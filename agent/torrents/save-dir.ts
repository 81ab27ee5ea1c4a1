/**
 * Where a torrent added through the API may write: inside the agent's download root.
 *
 * Whoever can call Torrents.Add chooses `save_dir`; without a bound that is "write any file
 * the agent's user can write". So a requested directory is resolved against the download
 * root (relative paths) or taken as is (absolute), normalised (`..`, `.`, repeated `/`),
 * and then checked twice: lexically, and after resolving symlinks of every part that
 * already exists (a symlink inside the root pointing outside it is an escape too). The
 * torrent's own file paths are checked the same way, since a pre-existing symlink named
 * like the torrent's top directory would redirect its writes.
 *
 * The operator may lift the bound (`--allow-any-save-dir`); absolute paths are then taken
 * as given (relative ones still resolve against the root).
 */
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, resolve, sep } from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import { DirListing, mapInBatches } from '../torrent/fs-batch.js';

/** Longest `save_dir` accepted (Linux PATH_MAX). */
export const MAX_SAVE_DIR_LENGTH = 4096;

/** The save-directory policy of one agent. */
export interface SaveDirPolicy {
  /** Absolute download root; created on first use. */
  readonly root: string;
  /** The operator's explicit opt-out: any absolute directory is accepted. */
  readonly allowAny: boolean;
}

/**
 * Resolves the requested save directory ('' = the root) to an absolute path, or throws
 * InvalidArgumentError('save_dir', …) when it is unusable or outside the root.
 * `files` are the absolute paths the torrent will write (from `resolvePaths`) given the
 * returned directory; pass them through `checkFiles` once known.
 */
export async function resolveSaveDir(requested: string, policy: SaveDirPolicy): Promise<string> {
  if (requested.length > MAX_SAVE_DIR_LENGTH || requested.includes('\0'))
    throw new InvalidArgumentError('save_dir', 'is not a usable path');
  const root = resolve(policy.root);
  const dir = requested === '' ? root : resolve(root, requested);
  if (policy.allowAny) return dir;
  const outside = (): InvalidArgumentError =>
    new InvalidArgumentError(
      'save_dir',
      `"${requested}" is outside the agent's download root ${root} ` +
        '(give a path relative to it; the operator may pass --allow-any-save-dir)',
    );
  if (!within(dir, root)) throw outside();
  const realRoot = await realRootOf(root);
  if (!within(await realExisting(dir), realRoot)) throw outside();
  return dir;
}

/**
 * Checks that every file path of a torrent, with symlinks of its existing parts resolved,
 * stays inside the download root (no-op when the policy allows any directory). Throws
 * InvalidArgumentError('save_dir', …) naming an escaping file. The realpath calls run
 * asynchronously in bounded batches: a 10 000-file torrent must not hold the event loop.
 */
export async function checkFiles(files: readonly string[], policy: SaveDirPolicy): Promise<void> {
  if (policy.allowAny) return;
  const realRoot = await realRootOf(resolve(policy.root));
  // Directories first, each once (multi-file torrents share them), then the files.
  const dirs = [...new Set(files.map((f) => dirname(f)))];
  const realDirs = new Map<string, string>();
  await mapInBatches(dirs, async (d) => {
    const real = await realExisting(d);
    if (real === null || !within(real, realRoot))
      throw escape(files.find((f) => dirname(f) === d)!);
    realDirs.set(d, real);
  });
  // A file is then at most one lstat: only a symlink needs resolving (its directory is judged).
  const listing = await DirListing.of(files);
  await mapInBatches(files, async (f) => {
    const st = listing.absent(f) ? undefined : await lstat(f).catch(() => undefined);
    const real = st?.isSymbolicLink()
      ? await realExisting(f)
      : `${realDirs.get(dirname(f))!}${sep}${basename(f)}`;
    if (!within(real, realRoot)) throw escape(f);
  });
}

function escape(file: string): InvalidArgumentError {
  return new InvalidArgumentError(
    'save_dir',
    `a symlink under it leads ${file} out of the agent's download root`,
  );
}

/** True when `p` is `root` or below it (both absolute and normalised); null never is. */
function within(p: string | null, root: string): boolean {
  if (p === null) return false;
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The root with its own symlinks resolved (created first, so it can be resolved). */
async function realRootOf(root: string): Promise<string> {
  await mkdir(root, { recursive: true });
  return realpath(root);
}

/**
 * `p` with symlinks resolved in its longest existing prefix and the missing rest appended
 * (the rest does not exist, so it cannot be a symlink yet). Null for a dangling symlink on
 * the way: creating through it would create its target, wherever that is.
 */
async function realExisting(p: string): Promise<string | null> {
  let head = p;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await realpath(head);
      return rest.length === 0 ? real : resolve(real, ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && (await lstat(head).catch(() => undefined)) !== undefined)
        return null;
      // ENOENT: missing, try the parent; ENOTDIR: a file where a directory is needed,
      // the write would fail anyway, judge by the parent as well.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(head) === head)
        throw new InvalidArgumentError('save_dir', `cannot resolve ${p}: ${code ?? err}`);
      rest.push(head.slice(dirname(head).length).replace(/^[/\\]+/, ''));
      head = dirname(head);
    }
  }
}
