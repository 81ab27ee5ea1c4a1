/**
 * Stand-alone entry for the torrent commands (`node dist/agent/torrent/standalone.js
 * download|seed ...`), used by tests and benchmarks independently of the agent daemon.
 */
import { Command } from 'commander';
import { registerTorrentCommands } from './cli.js';

const program = new Command('btagent');
program.exitOverride((err) => {
  // commander usage errors (missing option, unknown flag) → exit code 2
  process.exit(err.exitCode === 0 ? 0 : 2);
});
registerTorrentCommands(program);
await program.parseAsync(process.argv);
