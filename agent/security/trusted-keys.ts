import { PUBLIC_KEY_BYTES } from './record-signature.js';

/**
 * `--trusted-keys FILE`: the Ed25519 public keys whose records an agent
 * accepts. One key per line — 64 hex digits or base64 — optionally followed by
 * the node id it may sign for (then records naming another origin are refused);
 * blank lines and `#` comments are ignored.
 */

/** Keys per file; far more than any cluster has agents. */
export const MAX_TRUSTED_KEYS = 100_000;

/** Trusted keys: raw key (latin1) → the origin it is bound to, or undefined for any. */
export type TrustedKeys = ReadonlyMap<string, string | undefined>;

/** A trusted-keys file that cannot be used. */
export class TrustedKeysError extends Error {
  override name = 'TrustedKeysError';
}

/** Decodes one public key written as 64 hex digits or base64; undefined if neither. */
export function decodePublicKey(text: string): Buffer | undefined {
  const t = text.trim();
  let raw: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) raw = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) raw = Buffer.from(t, 'base64');
  return raw?.length === PUBLIC_KEY_BYTES ? raw : undefined;
}

/** Parses a trusted-keys file. Throws TrustedKeysError naming the line. */
export function parseTrustedKeys(text: string): TrustedKeys {
  const out = new Map<string, string | undefined>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*/, '').trim();
    if (line === '') continue;
    const [keyText, origin, extra] = line.split(/\s+/);
    const raw = decodePublicKey(keyText);
    if (raw === undefined) {
      throw new TrustedKeysError(`line ${i + 1}: not a 32-byte Ed25519 key in hex or base64`);
    }
    if (extra !== undefined) throw new TrustedKeysError(`line ${i + 1}: expected "KEY [NODE-ID]"`);
    if (out.size >= MAX_TRUSTED_KEYS)
      throw new TrustedKeysError(`more than ${MAX_TRUSTED_KEYS} keys`);
    out.set(raw.toString('latin1'), origin);
  }
  if (out.size === 0) throw new TrustedKeysError('the file lists no key');
  return out;
}
