import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fs/index.js';

/** The identity file inside `--data-dir`. */
export const IDENTITY_FILE = 'identity.ed25519.pem';

/** An agent's Ed25519 key pair. */
export interface AgentIdentity {
  readonly privateKey: KeyObject;
  /** The raw 32-byte public key. */
  readonly publicKey: Buffer;
  /** Where it is kept; undefined for an ephemeral (in-memory) identity. */
  readonly path: string | undefined;
  /** True when this start created it. */
  readonly created: boolean;
  /** Set when the file is readable by group or others (it should be 0600). */
  readonly looseMode?: number;
}

/** The raw 32-byte public key of an Ed25519 key. */
export function rawPublicKey(key: KeyObject): Buffer {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

/** A fresh identity that lives only as long as the process (no --data-dir). */
export function ephemeralIdentity(): AgentIdentity {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey: rawPublicKey(privateKey), path: undefined, created: true };
}

/**
 * Loads the identity from `dataDir`, creating it (PKCS#8 PEM, mode 0600, in a
 * directory created 0700) on first start. A file that exists but does not hold
 * an Ed25519 private key throws: silently replacing it would change the
 * agent's identity under every trusted-keys file that lists it.
 */
export function loadOrCreateIdentity(dataDir: string): AgentIdentity {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, IDENTITY_FILE);
  let pem: string | undefined;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (pem === undefined) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const text = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    try {
      // Durable (a power cut right after the first start must not leave an empty key
      // file) and exclusive: never overwrite a key another process created meanwhile.
      writeFileAtomicSync(path, text, { mode: 0o600, exclusive: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateIdentity(dataDir);
      throw err;
    }
    // The umask may have narrowed the mode further, never widened it; make it exact.
    chmodSync(path, 0o600);
    return { privateKey, publicKey: rawPublicKey(privateKey), path, created: true };
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${path} does not hold an Ed25519 private key`);
  }
  const mode = statSync(path).mode & 0o777;
  return {
    privateKey,
    publicKey: rawPublicKey(privateKey),
    path,
    created: false,
    ...(mode & 0o077 ? { looseMode: mode } : {}),
  };
}
