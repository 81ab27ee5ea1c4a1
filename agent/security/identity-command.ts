import { Option, type Command } from 'commander';
import { loadOrCreateIdentity } from './identity.js';

/**
 * `btagent identity --data-dir DIR`: prints the agent's Ed25519 public key (hex),
 * creating the identity on first use — what operators put in other agents'
 * `--trusted-keys` files before the agent ever starts.
 */
export function registerIdentityCommand(program: Command): void {
  program
    .command('identity')
    .description(
      "print this agent's Ed25519 public key (hex) for --trusted-keys, creating it if needed",
    )
    .addOption(
      new Option('--data-dir <dir>', 'where the identity is kept')
        .env('BTAGENT_DATA_DIR')
        .makeOptionMandatory(),
    )
    .option('--node-id <id>', 'append this node id (a ready --trusted-keys line)')
    .action((opts: { dataDir: string; nodeId?: string }) => {
      const id = loadOrCreateIdentity(opts.dataDir);
      const hex = id.publicKey.toString('hex');
      process.stdout.write(opts.nodeId ? `${hex} ${opts.nodeId}\n` : `${hex}\n`);
    });
}
