/**
 * `btctl torrent add|list|show|watch|rm|pause|resume`: the agent's torrents.
 * Exit codes as every btctl command: 0 ok, 1 failure, 2 bad arguments (the message names
 * the argument). Errors are thrown and mapped once by `exitCodeOf` in cli.ts.
 */
import { readFileSync, statSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { Option, type Command } from 'commander';
import { parseHostPort, parseTimeout, UsageError } from './args.js';
import { AgentCallError, type ConnectOptions } from './client.js';
import { json } from './format.js';
import { formatInfoHash, parseInfoHash } from './infohash.js';
import {
  connectTorrents,
  DISCOVERY_NAMES,
  type DiscoveryName,
  type TorrentInfo,
  type TorrentsApi,
} from './torrent-client.js';
import { readClientTls } from './tls.js';
import { readTokenFile, withTokenFile } from './token.js';
import { bytes, percent, torrentJson, torrentsTable, torrentText } from './torrent-format.js';

/** The .torrent files btctl reads at most (the engine's own bound is 32 MiB; gRPC's 4 MiB). */
const MAX_TORRENT_FILE = 32 * 1024 * 1024;

interface GlobalOptions {
  node: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  tokenFile?: string;
  timeout: string;
  json?: boolean;
}

const out = (text: string): boolean => process.stdout.write(text);

async function withTorrents<T>(
  opts: GlobalOptions,
  fn: (c: TorrentsApi) => Promise<T>,
): Promise<T> {
  const node = parseHostPort(opts.node, '--node');
  const c = connectTorrents(node, {
    timeoutMs: parseTimeout(opts.timeout, '--timeout'),
    tls: readClientTls(opts),
    token: readTokenFile(opts.tokenFile),
  });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/**
 * A torrent id as users give it: any info-hash form btctl accepts elsewhere (hex, base32,
 * magnet) or a hex prefix of at least 4 digits, which the agent resolves.
 */
export function torrentIdArg(text: string, name = '<id>'): string {
  const t = text.trim();
  if (/^[0-9a-fA-F]{4,39}$/.test(t)) return t.toLowerCase();
  try {
    const ih = parseInfoHash(t);
    if (ih.length !== 20) throw new Error('only v1 (20-byte) info hashes name torrents');
    return formatInfoHash(ih);
  } catch (err) {
    throw new UsageError(
      `${name}: "${text.slice(0, 80)}" is not an info hash or a hex prefix of at least 4 digits (${(err as Error).message})`,
    );
  }
}

function discoveryArg(text: string): DiscoveryName {
  if (!(DISCOVERY_NAMES as readonly string[]).includes(text))
    throw new UsageError(`--discovery: "${text}" is not one of ${DISCOVERY_NAMES.join(', ')}`);
  return text as DiscoveryName;
}

/** Longest magnet link btctl sends (the agent's own bound, agent/torrent/magnet.ts). */
const MAX_MAGNET_LENGTH = 16 * 1024;

/**
 * A magnet link, checked here as far as btctl can (a v1 info hash, a sane length); the
 * agent parses it fully (dn, tr, x.pe) and names anything else that is wrong.
 */
function magnetArg(link: string): string {
  const t = link.trim();
  if (t.length > MAX_MAGNET_LENGTH)
    throw new UsageError(
      `<file.torrent|magnet>: magnet link longer than ${MAX_MAGNET_LENGTH} characters`,
    );
  let ih: Buffer;
  try {
    ih = parseInfoHash(t);
  } catch (err) {
    throw new UsageError(`<file.torrent|magnet>: ${(err as Error).message}`);
  }
  if (ih.length !== 20)
    throw new UsageError(
      '<file.torrent|magnet>: the magnet link has only a v2 info hash (urn:btmh); the agent needs urn:btih (v1)',
    );
  return t;
}

function readTorrentFile(path: string): Buffer {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_TORRENT_FILE) throw new Error(`larger than ${MAX_TORRENT_FILE} bytes`);
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`<file.torrent|magnet>: cannot read ${path}: ${(err as Error).message}`);
  }
}

const oneLine = (t: TorrentInfo): string =>
  `${t.id}  ${t.name}  ${t.state}${t.error ? ` (${t.error})` : ''}  ${percent(t)}\n`;

/** Adds `btctl torrent …`. `withGlobals` adds --node, --timeout and --json. */
export function registerTorrentCommands(
  program: Command,
  globals: (cmd: Command) => Command,
): void {
  // Every torrent command is an admin call: each takes the admin token.
  const withGlobals = (cmd: Command): Command => withTokenFile(globals(cmd));
  const torrent = program
    .command('torrent')
    .description("the agent's torrents: add, list, show, watch, rm, pause, resume");

  withGlobals(
    torrent
      .command('add')
      .argument('<file.torrent|magnet>', 'a .torrent file, or a magnet link (quote it)'),
  )
    .description(
      'add a torrent to the agent; it downloads (or seeds, if the data is there). From a magnet link the agent first fetches the metadata from peers (state fetching-metadata)',
    )
    .option(
      '--dir <dir>',
      "save directory on the agent's host: relative to the agent's --download-root, or absolute inside it (default: the root)",
    )
    .addOption(
      new Option('--discovery <mode>', 'where to find peers: overlay, tracker or both').default(
        'overlay',
      ),
    )
    .option('--paused', 'add without starting')
    .action(
      async (
        file: string,
        opts: GlobalOptions & { dir?: string; discovery: string; paused?: boolean },
      ) => {
        const discovery = discoveryArg(opts.discovery);
        const what = /^\s*magnet:/i.test(file)
          ? { magnet: magnetArg(file) }
          : { torrent: readTorrentFile(file) };
        // Sent as given: the agent resolves it against its download root (it may run on
        // another host, so btctl's working directory means nothing there).
        const saveDir = opts.dir ?? '';
        if (saveDir === '' && opts.dir !== undefined) throw new UsageError('--dir: is empty');
        const t = await withTorrents(opts, (c) =>
          c.add({ ...what, saveDir, discovery, paused: opts.paused }),
        );
        out(opts.json ? json({ torrent: torrentJson(t) }) : `added ${oneLine(t)}`);
      },
    );

  withGlobals(torrent.command('list'))
    .description("the agent's torrents and their progress")
    .action(async (opts: GlobalOptions) => {
      const list = await withTorrents(opts, (c) => c.list());
      out(opts.json ? json({ torrents: list.map(torrentJson) }) : torrentsTable(list));
    });

  withGlobals(torrent.command('show').argument('<id|infohash>', 'info hash or unique prefix'))
    .description('one torrent in detail')
    .action(async (id: string, opts: GlobalOptions) => {
      const key = torrentIdArg(id, '<id|infohash>');
      const t = await withTorrents(opts, (c) => c.get(key));
      out(opts.json ? json({ torrent: torrentJson(t) }) : torrentText(t));
    });

  withGlobals(torrent.command('rm').argument('<id>', 'info hash or unique prefix'))
    .description('remove a torrent (the agent withdraws its provider record)')
    .option('--delete-data', "also delete the torrent's files")
    .action(async (id: string, opts: GlobalOptions & { deleteData?: boolean }) => {
      const key = torrentIdArg(id);
      const t = await withTorrents(opts, (c) => c.remove(key, opts.deleteData === true));
      out(
        opts.json
          ? json({ removed: torrentJson(t), deleted_data: opts.deleteData === true })
          : `removed ${t.id}  ${t.name}${opts.deleteData ? ' (data deleted)' : ''}\n`,
      );
    });

  for (const verb of ['pause', 'resume'] as const) {
    withGlobals(torrent.command(verb).argument('<id>', 'info hash or unique prefix'))
      .description(verb === 'pause' ? 'stop a torrent until resumed' : 'resume a paused torrent')
      .action(async (id: string, opts: GlobalOptions) => {
        const key = torrentIdArg(id);
        const t = await withTorrents(opts, (c) =>
          verb === 'pause' ? c.pause(key) : c.resume(key),
        );
        out(opts.json ? json({ torrent: torrentJson(t) }) : oneLine(t));
      });
  }

  withGlobals(torrent.command('watch').argument('<id>', 'info hash or unique prefix'))
    .description('show progress until the torrent is complete (exit 0), fails or is removed')
    .action(async (id: string, opts: GlobalOptions) => {
      const key = torrentIdArg(id);
      const node = parseHostPort(opts.node, '--node');
      parseTimeout(opts.timeout, '--timeout'); // validated; a watch itself has no deadline
      process.exitCode = await watch(node, key, opts.json === true, {
        tls: readClientTls(opts),
        token: readTokenFile(opts.tokenFile),
      });
    });
}

/** Runs a watch; resolves with the exit code. */
async function watch(
  node: string,
  id: string,
  asJson: boolean,
  connectOptions: Pick<ConnectOptions, 'tls' | 'token'>,
): Promise<number> {
  const c = connectTorrents(node, connectOptions);
  const tty = !asJson && process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: '{name} {bar} {percentage}% | {state} | ↓ {down}/s ↑ {up}/s | {peers} peers',
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  let barTotal = 0;
  let lastState = '';
  let result: { code: number; message?: string } | null = null;
  const w = c.watch(id, ({ torrent: t, removed }) => {
    if (result) return;
    if (asJson)
      out(JSON.stringify({ event: removed ? 'removed' : 'progress', ...torrentJson(t) }) + '\n');
    const payload = {
      name: t.name.slice(0, 24),
      state: t.state,
      down: bytes(t.downloadRate),
      up: bytes(t.uploadRate),
      peers: t.peers,
    };
    if (bar) {
      const total = Math.max(1, t.totalBytes); // a magnet link's size arrives with its metadata
      if (!started) bar.start(total, t.verifiedBytes, payload);
      else {
        if (total !== barTotal) bar.setTotal(total);
        bar.update(t.verifiedBytes, payload);
      }
      barTotal = total;
      started = true;
    } else if (!asJson && t.state !== lastState) out(oneLine(t));
    lastState = t.state;
    if (removed) result = { code: 1, message: `torrent ${t.id} was removed` };
    else if (t.state === 'error') result = { code: 1, message: `torrent ${t.id}: ${t.error}` };
    else if (t.left === 0 && !t.metadataPending && (t.state === 'seeding' || t.state === 'paused'))
      result = { code: 0 };
    if (result) w.cancel();
  });
  try {
    await w.done;
    result ??= { code: 1, message: 'the agent ended the watch before the torrent completed' };
  } catch (err) {
    if (!result) {
      if (err instanceof AgentCallError) throw err;
      result = { code: 1, message: (err as Error).message };
    }
  } finally {
    if (started) bar?.stop();
    c.close();
  }
  if (result.code === 0 && !asJson) out(`complete ${id}\n`);
  if (result.message) process.stderr.write(`btctl: ${result.message}\n`);
  return result.code;
}
