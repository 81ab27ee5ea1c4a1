import { Command, CommanderError, Option } from 'commander';
import { status as grpcStatus } from '@grpc/grpc-js';
import {
  parseCount,
  parseBytes,
  parseHostPort,
  parsePeerId,
  parseTimeout,
  UsageError,
} from './args.js';
import { AgentCallError, connect, type AgentClient } from './client.js';
import { compareDigests, convergenceCutoff, type ConvergenceReport } from './convergence.js';
import {
  convergenceText,
  json,
  memberJson,
  membersTable,
  providerJson,
  providersTable,
  statusText,
} from './format.js';
import { formatInfoHash, InfoHashParseError, parseInfoHash } from './infohash.js';
import { ClientTlsError, readClientTls, type ClientTls } from './tls.js';
import { registerTorrentCommands } from './torrent-cli.js';

/** btctl's exit codes. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Options every command takes. */
interface GlobalOptions extends TlsOptions {
  node: string;
  timeout: string;
  json?: boolean;
}

/** The TLS flags (see control/tls.ts). */
interface TlsOptions {
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
}

/** Adds --tls-ca, --tls-cert, --tls-key and --tls-server-name (env BTCTL_TLS_*). */
function withTls(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--tls-ca <file>', "CA (PEM) that signed the agent's certificate: use TLS").env(
        'BTCTL_TLS_CA',
      ),
    )
    .addOption(
      new Option('--tls-cert <file>', 'client certificate (PEM), for agents requiring mTLS').env(
        'BTCTL_TLS_CERT',
      ),
    )
    .addOption(new Option('--tls-key <file>', 'client private key (PEM)').env('BTCTL_TLS_KEY'))
    .addOption(
      new Option(
        '--tls-server-name <name>',
        "check the agent's certificate against this name, not the dialled host",
      ).env('BTCTL_TLS_SERVER_NAME'),
    );
}

/** Reads the TLS flags; a bad one throws ClientTlsError (exit 2, naming it). */
const tlsOf = (opts: TlsOptions): ClientTls | undefined => readClientTls(opts);

/** Adds --node, --timeout and --json to a command. */
function withGlobals(cmd: Command): Command {
  return withTls(cmd)
    .addOption(
      new Option('--node <host:port>', 'agent to ask').env('BTCTL_NODE').default('localhost:6000'),
    )
    .addOption(new Option('--timeout <duration>', 'deadline of each call').default('3s'))
    .option('--json', 'print JSON instead of a table');
}

/** Runs `fn` with a client of the agent named by the options, closing it after. */
async function withClient<T>(opts: GlobalOptions, fn: (c: AgentClient) => Promise<T>): Promise<T> {
  const node = parseHostPort(opts.node, '--node');
  const client = connect(node, {
    timeoutMs: parseTimeout(opts.timeout, '--timeout'),
    tls: tlsOf(opts),
  });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function infoHashArg(text: string): Buffer {
  try {
    return parseInfoHash(text);
  } catch (err) {
    if (err instanceof InfoHashParseError) throw new UsageError(`<infohash>: ${err.message}`);
    throw err;
  }
}

const out = (text: string): boolean => process.stdout.write(text);

/** Builds the btctl command line. Exported so tests and other tools can embed it. */
export function buildProgram(): Command {
  const program = new Command('btctl')
    .description('control CLI for btoverlay agents (stateless; talks gRPC to one agent)')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  withGlobals(
    program
      .command('lookup')
      .argument('<infohash>', 'hex (40/64), base32, %XX form, or magnet link'),
  )
    .description('list the live providers of an info hash, newest first')
    .option('--limit <n>', 'at most this many providers', '50')
    .action(async (ih: string, opts: GlobalOptions & { limit: string }) => {
      const infoHash = infoHashArg(ih);
      const limit = parseCount(opts.limit, '--limit', 1000);
      const providers = await withClient(opts, (c) => c.lookup(infoHash, limit));
      const now = Date.now();
      if (opts.json) {
        out(
          json({
            info_hash: formatInfoHash(infoHash),
            providers: providers.map((p) => providerJson(p, now)),
          }),
        );
      } else out(providersTable(providers, now));
    });

  withGlobals(
    program
      .command('announce')
      .argument('<infohash>', 'hex (40/64), base32, %XX form, or magnet link'),
  )
    .description('register a provider of an info hash with the agent')
    .requiredOption('--addr <host:port>', "the provider's peer-wire address")
    .option('--peer-id <id>', 'peer id: up to 20 characters or 40 hex digits', '')
    .option('--left <bytes>', 'bytes left to download (0 = seeder)', '0')
    .option('--remove', 'withdraw the provider instead')
    .action(
      async (
        ih: string,
        opts: GlobalOptions & { addr: string; peerId: string; left: string; remove?: boolean },
      ) => {
        const infoHash = infoHashArg(ih);
        const addr = parseHostPort(opts.addr, '--addr');
        const peerId = parsePeerId(opts.peerId, '--peer-id');
        const left = parseBytes(opts.left, '--left');
        const p = await withClient(opts, (c) =>
          c.announce({ infoHash, addr, peerId, left, removed: opts.remove }),
        );
        if (opts.json)
          out(json({ info_hash: formatInfoHash(infoHash), provider: providerJson(p, Date.now()) }));
        else
          out(`${opts.remove ? 'removed' : 'announced'} ${addr} for ${formatInfoHash(infoHash)}\n`);
      },
    );

  withGlobals(program.command('health'))
    .description('grpc.health.v1 check; exit 0 only when the agent is SERVING')
    .action(async (opts: GlobalOptions) => {
      const s = await withClient(opts, (c) => c.health());
      out(opts.json ? json({ node: opts.node, status: s }) : `${s}\n`);
      if (s !== 'SERVING') process.exitCode = EXIT.failure;
    });

  withGlobals(program.command('status'))
    .description("the agent's identity and store counters")
    .action(async (opts: GlobalOptions) => {
      const s = await withClient(opts, (c) => c.status());
      out(opts.json ? json(s) : statusText(s));
    });

  withGlobals(program.command('members'))
    .description("the agent's view of cluster membership (like `serf members`)")
    .action(async (opts: GlobalOptions) => {
      const members = await withClient(opts, (c) => c.members());
      const now = Date.now();
      out(
        opts.json
          ? json({ members: members.map((m) => memberJson(m, now)) })
          : membersTable(members, now),
      );
    });

  withTls(program.command('convergence'))
    .description('ask every alive member for its digest; exit 0 only when all agree')
    .addOption(
      new Option('--node <host:port>', 'agent whose member list to use')
        .env('BTCTL_NODE')
        .default('localhost:6000'),
    )
    .option('--watch', 'repeat until all agree or --timeout passes')
    .addOption(new Option('--timeout <duration>', 'how long --watch waits').default('10s'))
    .option('--json', 'print JSON instead of a table')
    .action(
      async (
        opts: TlsOptions & { node: string; timeout: string; watch?: boolean; json?: boolean },
      ) => {
        const node = parseHostPort(opts.node, '--node');
        const tls = tlsOf(opts);
        const timeoutMs = parseTimeout(opts.timeout, '--timeout');
        const deadline = Date.now() + timeoutMs;
        let report: ConvergenceReport;
        for (;;) {
          report = await convergenceOnce(node, Math.min(3000, timeoutMs), tls);
          if (report.converged || !opts.watch || Date.now() >= deadline) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        out(opts.json ? json(report) : convergenceText(report));
        if (!report.converged) process.exitCode = EXIT.failure;
      },
    );

  registerTorrentCommands(program, withGlobals);

  return program;
}

/** One convergence check: members of `node`, then every alive member's digest at one cutoff. */
async function convergenceOnce(
  node: string,
  callTimeoutMs: number,
  tls: ClientTls | undefined,
): Promise<ConvergenceReport> {
  const first = connect(node, { timeoutMs: callTimeoutMs, tls });
  let members;
  try {
    members = (await first.members()).filter((m) => m.state === 'alive');
  } finally {
    first.close();
  }
  const cutoff = convergenceCutoff(Date.now());
  const results = await Promise.all(
    members.map(async (m) => {
      const c = connect(m.addr, { timeoutMs: callTimeoutMs, tls });
      try {
        return await c.digest(cutoff);
      } catch (err) {
        return err as Error;
      } finally {
        c.close();
      }
    }),
  );
  return compareDigests(cutoff, members, results, node);
}

/** Maps an error to btctl's message and exit code: the one place this happens. */
export function exitCodeOf(err: unknown): { code: number; message?: string } {
  if (err instanceof CommanderError) {
    // --help and --version exit 0; commander already printed its message.
    return { code: err.exitCode === 0 ? EXIT.ok : EXIT.usage };
  }
  if (err instanceof UsageError || err instanceof ClientTlsError) {
    return { code: EXIT.usage, message: err.message };
  }
  if (err instanceof AgentCallError) {
    if (err.code === grpcStatus.INVALID_ARGUMENT) return { code: EXIT.usage, message: err.message };
    if (err.unreachable)
      return { code: EXIT.failure, message: `cannot reach agent at ${err.node} (${err.details})` };
    return { code: EXIT.failure, message: err.message };
  }
  return { code: EXIT.failure, message: (err as Error).stack ?? String(err) };
}
