import { createHash, hkdfSync } from 'node:crypto';

/**
 * Cluster keys: shared secrets that authenticate agent-to-agent messages.
 * A key file holds one key per line (blank lines and `#` comments ignored);
 * the FIRST key signs, every key is accepted — so a key is rotated by adding
 * the new key second on every agent, then moving it first, then removing the
 * old one (docs/security.md).
 */

/** Shortest key accepted, characters: 32 hex digits are 128 bits. */
export const MIN_KEY_CHARS = 32;
/** Longest key line accepted, characters. */
export const MAX_KEY_CHARS = 1024;
/** Keys per file: rotation needs two; a few more cost nothing. */
export const MAX_KEYS = 8;
/** HKDF (RFC 5869) context of the MAC key, so the raw secret is used for nothing else. */
const MAC_KEY_INFO = 'btoverlay-cluster-mac-v1';

/** One cluster key as used: its public id and the derived MAC key. */
export interface ClusterKey {
  /** 16 hex digits: a hash of the key, sent with every message so receivers pick the key. */
  readonly id: string;
  /** HMAC-SHA256 key, 32 bytes, derived from the secret with HKDF-SHA256. */
  readonly macKey: Buffer;
}

/** The keys of one agent: `primary` signs, all of `byId` verify. */
export interface ClusterKeyring {
  readonly primary: ClusterKey;
  readonly byId: ReadonlyMap<string, ClusterKey>;
}

/** A key file that cannot be used. */
export class ClusterKeyError extends Error {
  override name = 'ClusterKeyError';
}

/** Derives the id and MAC key of one secret. */
export function deriveClusterKey(secret: string): ClusterKey {
  const id = createHash('sha256')
    .update('btoverlay-key-id\0')
    .update(secret, 'utf8')
    .digest('hex')
    .slice(0, 16);
  const macKey = Buffer.from(
    hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), MAC_KEY_INFO, 32),
  );
  return { id, macKey };
}

/** Parses the text of a key file (and optionally more files' texts, whose keys are accepted only). */
export function parseClusterKeys(text: string, acceptOnly: readonly string[] = []): ClusterKeyring {
  const secrets = [text, ...acceptOnly].flatMap(keyLines);
  if (keyLines(text).length === 0) throw new ClusterKeyError('the key file holds no key');
  if (secrets.length > MAX_KEYS) throw new ClusterKeyError(`more than ${MAX_KEYS} keys`);
  const keys = secrets.map(deriveClusterKey);
  const byId = new Map<string, ClusterKey>();
  for (const k of keys) byId.set(k.id, k);
  return { primary: keys[0], byId };
}

function keyLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.length < MIN_KEY_CHARS) {
      throw new ClusterKeyError(
        `a key is ${line.length} characters; at least ${MIN_KEY_CHARS} are needed (e.g. openssl rand -hex 32)`,
      );
    }
    if (line.length > MAX_KEY_CHARS) {
      throw new ClusterKeyError(`a key is longer than ${MAX_KEY_CHARS} characters`);
    }
    out.push(line);
  }
  return out;
}
