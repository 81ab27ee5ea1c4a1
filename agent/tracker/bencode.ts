/**
 * A small bencode encoder (BEP 3 "bencoding") for the tracker's replies: integers,
 * byte strings, lists and dictionaries with keys in sorted raw-byte order. Strings
 * are byte strings (latin1, one character per byte) so binary peer lists and peer
 * ids pass through untouched. Pure. Decoding is not needed here (requests are URL
 * queries), and the shapes are few, so a generic library's cost is not paid per reply.
 */

/** A value bencode can carry. Strings are byte strings (each char code ≤ 0xff). */
export type BencodeValue =
  number | string | Uint8Array | readonly BencodeValue[] | { readonly [key: string]: BencodeValue };

function encodeInto(v: BencodeValue): string {
  if (typeof v === 'number') {
    // BEP 3: integers only; anything else here is a bug, not bad input.
    if (!Number.isSafeInteger(v)) throw new TypeError(`bencode: ${v} is not an integer`);
    return `i${v}e`;
  }
  if (typeof v === 'string') return `${v.length}:${v}`;
  if (v instanceof Uint8Array) {
    const s = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1');
    return `${s.length}:${s}`;
  }
  if (Array.isArray(v)) {
    let out = 'l';
    for (const item of v as readonly BencodeValue[]) out += encodeInto(item);
    return out + 'e';
  }
  const dict = v as { readonly [key: string]: BencodeValue };
  // BEP 3: keys sorted as raw strings. JS compares UTF-16 code units, which for
  // byte strings (all ≤ 0xff) is the byte order.
  const keys = Object.keys(dict).sort();
  let out = 'd';
  for (const k of keys) out += `${k.length}:${k}` + encodeInto(dict[k]);
  return out + 'e';
}

/** Encodes a value; returns the bytes. */
export function bencode(value: BencodeValue): Buffer {
  return Buffer.from(encodeInto(value), 'latin1');
}
