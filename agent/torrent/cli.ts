/**
 * `btagent download` and `btagent seed`. Exit codes: 0 success, 1 runtime failure,
 * 2 bad usage (the message names the argument).
 */
import type { EventEmitter } from 'node:events';
import { readFileSync, mkdirSync, statSync } from 'node:fs';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { MagnetError, MetainfoError, UsageError } from './errors.js';
import { isMagnetLink, parseMagnet, type Magnet } from './magnet.js';
import { createMagnetSession } from './magnet-session.js';
import { MAX_METAINFO_BYTES, parseMetainfo, type Metainfo } from './metainfo.js';
import { parsePeerAddr, type PeerAddr } from './peer-source.js';
import {
  createTorrentSession,
  type Progress,
  type TorrentSession,
  type TorrentSessionEvents,
} from './session.js';

/** What `runSession` drives: a session, or a magnet link's (metadata first). */
type Runner = Pick<TorrentSession, 'start' | 'stop' | 'progress' | 'complete' | 'port'> &
  EventEmitter<TorrentSessionEvents>;

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

function loadTorrent(file: string): Metainfo {
  let data: Buffer;
  try {
    if (statSync(file).size > MAX_METAINFO_BYTES)
      throw new UsageError('<file.torrent>', 'file too large');
    data = readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError('<file.torrent>', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return parseMetainfo(data);
  } catch (e) {
    if (e instanceof MetainfoError) throw new UsageError('<file.torrent>', `${file}: ${e.message}`);
    throw e;
  }
}

function loadMagnet(text: string): Magnet {
  try {
    return parseMagnet(text);
  } catch (e) {
    if (e instanceof MagnetError) throw new UsageError('<file.torrent|magnet>', e.message);
    throw e;
  }
}

function addrArg(name: string, s: string): PeerAddr {
  try {
    return parsePeerAddr(s);
  } catch (e) {
    throw new UsageError(name, (e as Error).message);
  }
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

const mb = (n: number): string => (n / 1e6).toFixed(1);

/** Runs a session until it completes (download) or until a signal (seed). */
async function runSession(session: Runner, untilComplete: boolean, json: boolean): Promise<number> {
  // A closed pipe (e.g. `| head`) must not crash the download.
  process.stdout.on('error', () => undefined);
  const tty = !json && process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: '{bar} {percentage}% | {rate} MB/s | {peers} peers | ETA {eta_formatted}',
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let barStarted = false;
  let saidFetching = false;
  const show = (p: Progress): void => {
    if (json) process.stdout.write(JSON.stringify({ event: 'progress', ...p }) + '\n');
    else if (p.state === 'fetching-metadata') {
      if (!saidFetching) process.stderr.write('fetching metadata (BEP 9) from peers…\n');
      saidFetching = true;
    } else if (bar) {
      if (!barStarted) {
        bar.start(p.totalBytes, p.verifiedBytes, { rate: '0.0', peers: 0 });
        barStarted = true;
      }
      bar.update(p.verifiedBytes, {
        rate: mb(p.state === 'seeding' ? p.uploadRate : p.downloadRate),
        peers: p.peers,
      });
    }
  };
  session.on('progress', show);
  session.on('peer-banned', (a) => {
    if (json)
      process.stdout.write(JSON.stringify({ event: 'banned', peer: `${a.host}:${a.port}` }) + '\n');
    else if (!bar) process.stderr.write(`banned peer ${a.host}:${a.port}\n`);
  });
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = async (code: number, err?: Error): Promise<void> => {
      if (done) return;
      done = true;
      const final = session.progress();
      await session.stop();
      if (barStarted) bar?.stop();
      if (json)
        process.stdout.write(
          JSON.stringify({
            event: code === 0 ? 'done' : 'error',
            ...final,
            ...(err ? { error: err.message } : {}),
          }) + '\n',
        );
      else if (err) process.stderr.write(`error: ${err.message}\n`);
      resolve(code);
    };
    session.on('error', (e) => void finish(EXIT_FAILURE, e));
    if (untilComplete) session.on('complete', () => void finish(EXIT_OK));
    const onSignal = (): void =>
      void finish(untilComplete && !session.complete ? EXIT_FAILURE : EXIT_OK);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    session.start().then(
      () => {
        if (json)
          process.stdout.write(JSON.stringify({ event: 'listening', port: session.port }) + '\n');
        if (untilComplete && session.complete) void finish(EXIT_OK);
      },
      (e: Error) => void finish(EXIT_FAILURE, e),
    );
  });
}

/** Adds `download` and `seed` to a commander program. */
export function registerTorrentCommands(program: Command): void {
  program
    .command('download')
    .description('download a torrent, verifying every piece (exit 0 when complete)')
    .argument('<file.torrent|magnet>', 'the .torrent file, or a magnet link (BEP 9)')
    .requiredOption('--out <dir>', 'directory to download into')
    .option('--peer <host:port>', 'a peer to connect to (repeatable)', collect, [])
    .option('--no-tracker', "do not announce to the torrent's trackers")
    .option('--listen <host:port>', 'accept incoming peer connections here', '0.0.0.0:0')
    .option('--json', 'print progress as JSON lines on stdout')
    .addOption(new Option('--no-seed', 'exit when complete (default)').hideHelp())
    .action(
      async (
        file: string,
        opts: { out: string; peer: string[]; tracker: boolean; listen: string; json?: boolean },
      ) => {
        const code = await guard(async () => {
          const magnet = isMagnetLink(file) ? loadMagnet(file) : null;
          const metainfo = magnet ? null : loadTorrent(file);
          const peers = opts.peer.map((p) => addrArg('--peer', p));
          const listen = parseListen(opts.listen);
          const given = peers.length + (magnet?.peers.length ?? 0);
          const trackers = magnet ? magnet.trackers.length : metainfo!.announceTiers.length;
          if (!opts.tracker && given === 0)
            throw new UsageError(
              '--peer',
              'no peer source: give --peer host:port or allow the tracker',
            );
          if (opts.tracker && given === 0 && trackers === 0)
            throw new UsageError(
              '--peer',
              `the ${magnet ? 'magnet link' : 'torrent'} has no tracker: give --peer host:port`,
            );
          try {
            mkdirSync(opts.out, { recursive: true });
          } catch (e) {
            throw new UsageError('--out', (e as Error).message);
          }
          const common = {
            dir: opts.out,
            peers,
            useTrackers: opts.tracker,
            listen,
            check: 'resume' as const,
          };
          if (magnet === null)
            return runSession(
              createTorrentSession({ ...common, metainfo: metainfo! }),
              true,
              opts.json === true,
            );
          const onMetadata = (m: Metainfo): void => {
            const line = { event: 'metadata', infoHash: m.infoHashHex, name: m.name };
            if (opts.json === true)
              process.stdout.write(
                JSON.stringify({ ...line, totalBytes: m.totalLength, pieceCount: m.pieceCount }) +
                  '\n',
              );
            else process.stderr.write(`metadata: ${m.name} (${m.totalLength} bytes)\n`);
          };
          return runSession(
            createMagnetSession({ ...common, magnet, onMetadata }),
            true,
            opts.json === true,
          );
        });
        process.exitCode = code;
      },
    );

  program
    .command('seed')
    .description('verify the data of a torrent, then seed it until stopped')
    .argument('<file.torrent>', 'the .torrent file')
    .requiredOption('--data <dir>', 'directory holding the content')
    .option('--listen <host:port>', 'address to accept peers on', '0.0.0.0:6881')
    .option('--no-tracker', "do not announce to the torrent's trackers")
    .option('--json', 'print progress as JSON lines on stdout')
    .action(
      async (
        file: string,
        opts: { data: string; listen: string; tracker: boolean; json?: boolean },
      ) => {
        const code = await guard(async () => {
          const metainfo = loadTorrent(file);
          const listen = parseListen(opts.listen);
          try {
            if (!statSync(opts.data).isDirectory()) throw new Error('not a directory');
          } catch (e) {
            throw new UsageError('--data', `${opts.data}: ${(e as Error).message}`);
          }
          const session = createTorrentSession({
            metainfo,
            dir: opts.data,
            listen,
            useTrackers: opts.tracker,
            check: 'full',
            stateDir: null,
          });
          return runSession(session, false, opts.json === true);
        });
        process.exitCode = code;
      },
    );
}

function parseListen(s: string): PeerAddr {
  const m = /^(.+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new UsageError('--listen', `expected host:port, got ${JSON.stringify(s)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Maps typed errors to exit codes, once. */
async function guard(f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`error: ${err.message}\n`);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}
