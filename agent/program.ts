import { Command, CommanderError, Option } from 'commander';
import type { Agent } from './agent.js';
import { buildConfig, FLAG_DEFAULTS, type RawAgentFlags } from './config.js';
import { LOG_LEVELS } from './log.js';
import { addClusterFlags } from './gossip/config.js';
import { DataDirLockedError } from './fs/lock.js';
import { ConfigError } from './errors.js';
import { registerTorrentCommands } from './torrent/cli.js';
import { addTorrentFlags } from './torrents/config.js';
import { addSecurityFlags } from './security/config.js';
import { addHttpTrackerFlags } from './tracker/config.js';
import { addLimitFlags } from './limits/config.js';
import { registerIdentityCommand } from './security/identity-command.js';
import { installProcessErrorHandlers } from './process-errors.js';
import { VERSION } from './version.js';

/** Exit codes shared by btagent's commands. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function flag(flags: string, description: string, envName: string, defaultValue?: string): Option {
  const o = new Option(flags, description).env(envName);
  return defaultValue === undefined ? o : o.default(defaultValue);
}

/** Adds `btagent run` (the default command): the daemon. */
function registerRun(program: Command): void {
  addLimitFlags(
    addHttpTrackerFlags(
      addSecurityFlags(
        addTorrentFlags(addClusterFlags(program.command('run', { isDefault: true }))),
      ),
    ),
  )
    .description('run an agent: gRPC, legacy JSON and HTTP on one port, replicating by gossip')
    .addOption(
      flag(
        '--listen <host:port>',
        'address to listen on (port 0 = any free port)',
        'BTAGENT_LISTEN',
        FLAG_DEFAULTS.listen,
      ),
    )
    .addOption(
      flag(
        '--advertise <host:port>',
        'address other agents dial (default: hostname and listen port)',
        'BTAGENT_ADVERTISE',
      ),
    )
    .addOption(
      flag(
        '--bootstrap <host:port|dns:NAME:PORT,...>',
        'agents to join through (dns: entries are re-resolved)',
        'BTAGENT_BOOTSTRAP',
        FLAG_DEFAULTS.bootstrap,
      ),
    )
    .addOption(
      flag(
        '--ttl <duration>',
        'record time-to-live, for lookups and sweep alike',
        'BTAGENT_TTL',
        FLAG_DEFAULTS.ttl,
      ),
    )
    .addOption(
      flag(
        '--max-skew <duration>',
        'future last_seen beyond this is clamped to now',
        'BTAGENT_MAX_SKEW',
        FLAG_DEFAULTS.maxSkew,
      ),
    )
    .addOption(
      flag(
        '--node-id <id>',
        'unique id of this agent (default: hostname-random)',
        'BTAGENT_NODE_ID',
      ),
    )
    .addOption(
      flag(
        '--log-level <level>',
        `one of ${LOG_LEVELS.join(', ')}`,
        'BTAGENT_LOG_LEVEL',
        FLAG_DEFAULTS.logLevel,
      ),
    )
    .addOption(
      flag(
        '--max-providers-per-info-hash <n>',
        'providers kept per info hash (oldest evicted)',
        'BTAGENT_MAX_PROVIDERS_PER_INFO_HASH',
        FLAG_DEFAULTS.maxProvidersPerInfoHash,
      ),
    )
    .addOption(
      flag(
        '--max-info-hashes <n>',
        'info hashes kept',
        'BTAGENT_MAX_INFO_HASHES',
        FLAG_DEFAULTS.maxInfoHashes,
      ),
    )
    .addOption(
      flag(
        '--max-message-bytes <n>',
        'largest gRPC message',
        'BTAGENT_MAX_MESSAGE_BYTES',
        FLAG_DEFAULTS.maxMessageBytes,
      ),
    )
    .addOption(
      flag(
        '--gossip-interval <duration>',
        'how often changes are pushed',
        'BTAGENT_GOSSIP_INTERVAL',
        FLAG_DEFAULTS.gossipInterval,
      ),
    )
    .addOption(
      flag(
        '--full-sync-interval <duration>',
        'push-pull anti-entropy with one random member this often',
        'BTAGENT_FULL_SYNC_INTERVAL',
        FLAG_DEFAULTS.fullSyncInterval,
      ),
    )
    .addOption(
      flag(
        '--legacy-mode <mode>',
        'legacy JSON protocol: off, read-only (lookups only) or read-write',
        'BTAGENT_LEGACY_MODE',
        FLAG_DEFAULTS.legacyMode,
      ),
    )
    .addOption(
      flag(
        '--legacy-peers <host:port,...>',
        'legacy Go overlay nodes to gossip records to',
        'BTAGENT_LEGACY_PEERS',
        FLAG_DEFAULTS.legacyPeers,
      ),
    )
    .addOption(
      flag(
        '--legacy-gossip-interval <duration>',
        'how often everything is gossiped to legacy peers',
        'BTAGENT_LEGACY_GOSSIP_INTERVAL',
        FLAG_DEFAULTS.legacyGossipInterval,
      ),
    )
    .addOption(
      flag(
        '--legacy-max-line-bytes <n>',
        'largest legacy message',
        'BTAGENT_LEGACY_MAX_LINE_BYTES',
        FLAG_DEFAULTS.legacyMaxLineBytes,
      ),
    )
    .addOption(
      flag(
        '--legacy-read-timeout <duration>',
        'a legacy message must arrive within this',
        'BTAGENT_LEGACY_READ_TIMEOUT',
        FLAG_DEFAULTS.legacyReadTimeout,
      ),
    )
    .addOption(
      flag(
        '--legacy-max-connections <n>',
        'simultaneous legacy connections',
        'BTAGENT_LEGACY_MAX_CONNECTIONS',
        FLAG_DEFAULTS.legacyMaxConnections,
      ),
    )
    .addOption(
      flag(
        '--legacy-max-providers <n>',
        'providers per legacy message (at most 500)',
        'BTAGENT_LEGACY_MAX_PROVIDERS',
        FLAG_DEFAULTS.legacyMaxProviders,
      ),
    )
    .action(async (flags: RawAgentFlags) => {
      const config = buildConfig(flags);
      // The daemon's modules (gRPC, the generated contract, metrics, pino) load only for
      // `run`: they cost ~0.3 CPU-s, which `btagent download|seed|identity` should not pay.
      const [{ Agent }, { createLogger }] = await Promise.all([
        import('./agent.js'),
        import('./log.js'),
      ]);
      const log = createLogger(config.logLevel, config.nodeId);
      installProcessErrorHandlers(log);
      // Handlers go in before the start: a supervisor may signal as soon as it reads the
      // "listening" line, which is logged inside Agent.start.
      let agent: Agent | undefined = undefined; // set once started; read by onSignal
      let pending: string | undefined;
      let signals = 0;
      const onSignal = (signal: string): void => {
        if (agent === undefined) {
          pending = signal; // stop once started
          return;
        }
        if (++signals > 1) process.exit(EXIT.failure);
        log.info({ signal }, 'signal received');
        // The stop is bounded by its grace period; this is the backstop.
        setTimeout(() => process.exit(EXIT.failure), config.shutdownGraceMs + 1000).unref();
        agent.stop().then(
          () => process.exit(EXIT.ok),
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(EXIT.failure);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      agent = await Agent.start(config, log);
      if (pending !== undefined) onSignal(pending);
    });
}

/** Builds the `btagent` command line. */
export function buildProgram(): Command {
  const program = new Command('btagent')
    .description('btoverlay agent: decentralised BitTorrent peer discovery and transfer')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  registerRun(program);
  registerIdentityCommand(program);
  // `btagent download|seed`: the peer-wire engine on its own, without the daemon.
  registerTorrentCommands(program);
  return program;
}

/** Runs `btagent` with these arguments (process.argv layout); exits on errors. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; every usage error exits 2.
      process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`btagent: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    if (err instanceof DataDirLockedError) {
      process.stderr.write(`btagent: ${err.message}\n`); // names the dir and the holder
      process.exit(EXIT.failure);
    }
    process.stderr.write(`btagent: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.failure);
  }
}
