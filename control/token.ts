/**
 * btctl's admin token (`--token-file FILE`, env BTCTL_TOKEN_FILE): the secret of
 * the agent's --admin-token-file, sent with every Torrents call as
 * `authorization: Bearer <token>` (RFC 6750 §2.1) so that a host outside the
 * agent's --admin-sources may manage its torrents. Read once per command.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { UsageError } from './args.js';

/** The agent's own bounds (agent/security/admin.ts), checked here to fail early and clearly. */
const MIN_TOKEN = 32;
const MAX_TOKEN = 4096;

/** The flag's name in messages, with its environment variable. */
const FLAG = '--token-file (BTCTL_TOKEN_FILE)';

/** Adds --token-file (env BTCTL_TOKEN_FILE) to a command. */
export function withTokenFile(cmd: Command): Command {
  return cmd.addOption(
    new Option(
      '--token-file <file>',
      "the agent's admin token (its --admin-token-file), for managing it from another host",
    ).env('BTCTL_TOKEN_FILE'),
  );
}

/** Reads the token file; undefined without the flag. A bad file throws UsageError (exit 2). */
export function readTokenFile(path: string | undefined): string | undefined {
  if (path === undefined || path === '') return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${FLAG}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
  const t = text.trim();
  if (t.length < MIN_TOKEN || t.length > MAX_TOKEN || !/^[\x21-\x7e]+$/.test(t))
    throw new UsageError(
      `${FLAG}: ${path} must hold one line of ${MIN_TOKEN}-${MAX_TOKEN} printable characters (the agent's --admin-token-file)`,
    );
  return t;
}
