import { readFileSync, statSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ConfigError } from '../errors.js';
import { AdminCa, AdminToken, type AdminOptions } from './admin.js';
import { SourceSet } from './sources.js';

/** The admin plane's validated settings (docs/security.md §6). */
export interface AdminConfig extends AdminOptions {
  /** PEM of --admin-tls-ca, which the TLS server also verifies client certificates with. */
  readonly tlsCaPem: Buffer | undefined;
  /** Start-up warnings (a token file others can read, a token over plaintext gRPC). */
  readonly warnings: readonly string[];
}

/** The raw admin flags. */
export interface RawAdminFlags {
  adminSources?: string;
  adminTokenFile?: string;
  adminTlsCa?: string;
}

/**
 * Loopback only (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3), as Transmission's RPC
 * whitelist and Consul's client address default: an operator on the agent's own
 * host manages torrents with no flag; any other host needs a credential.
 */
export const ADMIN_FLAG_DEFAULTS = { adminSources: '127.0.0.0/8,::1' } as const;

/** Adds --admin-sources, --admin-token-file and --admin-tls-ca to `btagent run`. */
export function addAdminFlags(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--admin-sources <cidr,...>',
        'callers that may use admin methods (Torrents) with no credential ("" = none)',
      )
        .env('BTAGENT_ADMIN_SOURCES')
        .default(ADMIN_FLAG_DEFAULTS.adminSources),
    )
    .addOption(
      new Option(
        '--admin-token-file <file>',
        'a secret (>= 32 chars) admitting callers that send it (btctl --token-file)',
      ).env('BTAGENT_ADMIN_TOKEN_FILE'),
    )
    .addOption(
      new Option(
        '--admin-tls-ca <file>',
        'CA (PEM) whose client certificates may use admin methods (needs --tls-cert)',
      ).env('BTAGENT_ADMIN_TLS_CA'),
    );
}

function read(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code})`);
  }
}

/**
 * Validates the admin flags, reading the token and CA files. `tlsServing`: whether
 * the agent serves TLS (--tls-cert), which a client certificate needs.
 * Throws ConfigError naming the flag.
 */
export function buildAdminConfig(raw: RawAdminFlags, tlsServing: boolean): AdminConfig {
  let sources: SourceSet;
  try {
    sources = SourceSet.parse(raw.adminSources ?? ADMIN_FLAG_DEFAULTS.adminSources);
  } catch (err) {
    throw new ConfigError(`--admin-sources: ${(err as Error).message}`);
  }
  let token: AdminToken | undefined;
  if (raw.adminTokenFile) {
    try {
      token = AdminToken.parse(read(raw.adminTokenFile, '--admin-token-file').toString('utf8'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`--admin-token-file: ${raw.adminTokenFile}: ${(err as Error).message}`);
    }
  }
  const warnings: string[] = [];
  if (token !== undefined) {
    if ((statSync(raw.adminTokenFile!).mode & 0o077) !== 0)
      warnings.push(`--admin-token-file ${raw.adminTokenFile} is readable by others; chmod 600 it`);
    if (!tlsServing)
      warnings.push(
        '--admin-token-file without --tls-cert: the token crosses the network in plaintext gRPC',
      );
  }
  let tlsCa: AdminCa | undefined;
  let tlsCaPem: Buffer | undefined;
  if (raw.adminTlsCa) {
    if (!tlsServing)
      throw new ConfigError(
        '--admin-tls-ca: needs --tls-cert and --tls-key (client certificates come with TLS)',
      );
    tlsCaPem = read(raw.adminTlsCa, '--admin-tls-ca');
    try {
      tlsCa = AdminCa.parse(tlsCaPem.toString('latin1'));
    } catch (err) {
      throw new ConfigError(`--admin-tls-ca: ${raw.adminTlsCa}: ${(err as Error).message}`);
    }
  }
  return { sources, token, tlsCa, tlsCaPem, warnings };
}
