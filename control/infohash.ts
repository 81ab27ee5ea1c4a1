/**
 * Parsing of info hashes as users type them (pure). Accepted forms:
 * 40 hex digits (v1) or 64 hex digits (v2, BEP 52) in any case; 32 base32
 * characters (RFC 4648 §6, as some magnet links carry v1 hashes); the legacy
 * overlay's URL-escaped form (`%AA%BB…`, 60 characters); and a magnet link
 * (`magnet:?xt=urn:btih:…` or `xt=urn:btmh:1220…`, BEP 9 / BEP 52).
 */

/** An info hash argument that is none of the accepted forms. */
export class InfoHashParseError extends Error {
  override name = 'InfoHashParseError';
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text.toUpperCase()) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new InfoHashParseError(`"${ch}" is not a base32 digit`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** Parses an info hash in any accepted form into its 20 or 32 raw bytes. */
export function parseInfoHash(text: string): Buffer {
  const t = text.trim();
  if (/^magnet:\?/i.test(t)) return fromMagnet(t);
  if (/^[0-9a-fA-F]{40}$/.test(t) || /^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z2-7]{32}$/.test(t)) return base32Decode(t);
  if (/^(%[0-9a-fA-F]{2}){20}$/.test(t)) return Buffer.from(t.replace(/%/g, ''), 'hex');
  throw new InfoHashParseError(
    `"${t.length > 80 ? `${t.slice(0, 80)}…` : t}" is not an info hash ` +
      '(want 40 or 64 hex digits, 32 base32 characters, the %XX form, or a magnet link)',
  );
}

function fromMagnet(link: string): Buffer {
  const params = new URLSearchParams(link.slice(link.indexOf('?') + 1));
  const xts = params.getAll('xt');
  // A hybrid link (BEP 52) lists both; the v1 hash is the one the overlay knows, in
  // whichever order the link gives them.
  for (const xt of xts) {
    const v1 = /^urn:btih:(.+)$/i.exec(xt);
    if (v1 !== null && /^([0-9a-fA-F]{40}|[A-Za-z2-7]{32})$/.test(v1[1]))
      return parseInfoHash(v1[1]);
  }
  for (const xt of xts) {
    // BEP 52: a multihash, 0x12 (sha2-256) 0x20 (32 bytes) then the digest.
    const v2 = /^urn:btmh:1220([0-9a-fA-F]{64})$/i.exec(xt);
    if (v2 !== null) return Buffer.from(v2[1], 'hex');
  }
  throw new InfoHashParseError(
    'magnet link has no xt=urn:btih:<40 hex|32 base32> or urn:btmh:1220<64 hex>',
  );
}

/** Formats info-hash bytes as lowercase hex, the form btctl prints. */
export function formatInfoHash(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
