/**
 * Metainfo (.torrent) parsing, BEP 3 single- and multi-file, BEP 12 announce-list,
 * BEP 27 private flag. Pure: no I/O.
 *
 * The info hash is SHA-1 of the exact `info` bytes as they appear in the file (BEP 3):
 * we locate them with a bounded bencode scanner and slice, never re-encode, because a
 * re-encoding of a non-canonical file would give a different hash than every other client.
 */
import { createHash } from 'node:crypto';
import bencode, { type BValue } from 'bencode';
import { MetainfoError } from './errors.js';

/** Hard bound on a .torrent file we accept (real ones are well under a few MiB). */
export const MAX_METAINFO_BYTES = 32 * 1024 * 1024;
/**
 * Files per torrent. Each costs an open file handle, a few syscalls at start and a
 * record in every piece-to-file mapping; real torrents (even full distributions)
 * stay in the hundreds to low thousands, so 10 000 bounds the work a remote-chosen
 * .torrent or BEP 9 metadata can cause.
 */
export const MAX_FILES = 10_000;
/**
 * Largest piece length. A piece is buffered whole (download and hash check, BEP 3),
 * so its length is a per-piece allocation a .torrent chooses; BEP 52 and common
 * clients use ≤ 16 MiB, and libtorrent refuses pieces above 128 MiB. 64 MiB keeps
 * one piece buffer bounded while leaving room above any real torrent.
 */
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024;
/** Nesting bound for the scanner; real torrents nest 4 deep. */
const MAX_DEPTH = 64;

/** One file of the torrent, with its byte offset in the concatenated content. */
export interface TorrentFile {
  /** Path components, validated: no '', '.', '..', separators or NUL. */
  readonly path: readonly string[];
  readonly length: number;
  /** Offset of the file's first byte in the torrent's concatenated content. */
  readonly offset: number;
}

/** A parsed, validated .torrent. */
export interface Metainfo {
  /** SHA-1 of the raw `info` dictionary bytes. */
  readonly infoHash: Buffer;
  readonly infoHashHex: string;
  /** Top-level name: the file name (single-file) or directory name (multi-file). */
  readonly name: string;
  readonly pieceLength: number;
  /** Concatenated 20-byte SHA-1 piece hashes. */
  readonly pieces: Buffer;
  readonly pieceCount: number;
  readonly totalLength: number;
  /** Files in torrent order; single-file torrents have one entry with path [name]. */
  readonly files: readonly TorrentFile[];
  /** True for a multi-file torrent (content lives under a directory called `name`). */
  readonly multiFile: boolean;
  /** BEP 27: peers come only from trackers. */
  readonly private: boolean;
  /** Announce URLs in tiers (BEP 12); `announce` alone becomes a single tier. */
  readonly announceTiers: readonly (readonly string[])[];
  /** The raw info dictionary bytes (needed e.g. for BEP 9). */
  readonly infoBytes: Buffer;
}

/** Finds the byte span of a top-level key's value in a bencoded dictionary. */
export function findTopLevelValue(buf: Uint8Array, key: string): [number, number] | null {
  if (buf.length === 0 || buf[0] !== 0x64 /* d */)
    throw new MetainfoError('torrent', 'not a bencoded dictionary');
  let pos = 1;
  const want = Buffer.from(key, 'utf8');
  while (pos < buf.length && buf[pos] !== 0x65 /* e */) {
    const [ks, ke] = scanString(buf, pos);
    const vs = ke;
    const ve = skipValue(buf, vs);
    if (ke - ks === want.length && Buffer.compare(want, buf.subarray(ks, ke)) === 0)
      return [vs, ve];
    pos = ve;
  }
  if (pos >= buf.length)
    throw new MetainfoError('torrent', 'truncated (dictionary not terminated)');
  return null;
}

/**
 * End offset of the bencoded value starting at `pos` (bounded, iterative scanner): splits
 * a value from bytes that follow it, e.g. a BEP 9 message's dictionary from its data.
 * Throws MetainfoError on malformed or truncated input.
 */
export function bencodedValueEnd(buf: Uint8Array, pos: number): number {
  return skipValue(buf, pos);
}

/** Scans a bencoded string at `pos`; returns [contentStart, end]. */
function scanString(buf: Uint8Array, pos: number): [number, number] {
  let len = 0;
  let i = pos;
  if (i >= buf.length) throw new MetainfoError('torrent', 'truncated');
  while (i < buf.length && buf[i] !== 0x3a /* : */) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39 || i - pos > 10)
      throw new MetainfoError('torrent', `malformed string length at byte ${pos}`);
    len = len * 10 + (c - 0x30);
    i++;
  }
  if (i === pos || i >= buf.length)
    throw new MetainfoError('torrent', `truncated string at byte ${pos}`);
  const start = i + 1;
  if (start + len > buf.length)
    throw new MetainfoError('torrent', `truncated string at byte ${pos}`);
  return [start, start + len];
}

/** Returns the end offset of the bencoded value starting at `pos` (iterative, depth-bounded). */
function skipValue(buf: Uint8Array, pos: number): number {
  let depth = 0;
  let i = pos;
  do {
    if (i >= buf.length) throw new MetainfoError('torrent', 'truncated');
    const c = buf[i]!;
    if (c === 0x64 || c === 0x6c /* d l */) {
      if (++depth > MAX_DEPTH) throw new MetainfoError('torrent', 'nested too deeply');
      i++;
    } else if (c === 0x65 /* e */) {
      if (depth === 0) throw new MetainfoError('torrent', `unexpected 'e' at byte ${i}`);
      depth--;
      i++;
    } else if (c === 0x69 /* i */) {
      const end = buf.indexOf(0x65, i + 1);
      if (end < 0) throw new MetainfoError('torrent', 'truncated integer');
      i = end + 1;
    } else {
      i = scanString(buf, i)[1];
    }
  } while (depth > 0);
  return i;
}

type Dict = { [key: string]: BValue };
const isDict = (v: BValue | undefined): v is Dict =>
  typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
const str = (v: Uint8Array): string =>
  Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');

function needString(v: BValue | undefined, field: string): string {
  if (!(v instanceof Uint8Array)) throw new MetainfoError(field, 'missing or not a string');
  return str(v);
}

function needInt(v: BValue | undefined, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    throw new MetainfoError(field, `missing or not an integer ≥ ${min}`);
  return v;
}

/** Validates one path component: rejects traversal and separators (never trust file names). */
export function checkPathComponent(c: string, field: string): string {
  if (c === '' || c === '.' || c === '..' || /[/\\\0]/.test(c) || /^[A-Za-z]:/.test(c))
    throw new MetainfoError(field, `unsafe path component ${JSON.stringify(c)}`);
  return c;
}

/** Parses and validates a .torrent file. Throws MetainfoError naming the bad field. */
export function parseMetainfo(data: Uint8Array): Metainfo {
  if (data.length > MAX_METAINFO_BYTES)
    throw new MetainfoError('torrent', `larger than ${MAX_METAINFO_BYTES} bytes`);
  const span = findTopLevelValue(data, 'info');
  if (!span) throw new MetainfoError('info', 'missing');
  let root: BValue;
  try {
    root = bencode.decode(data);
  } catch (e) {
    throw new MetainfoError('torrent', `not valid bencode (${(e as Error).message})`);
  }
  if (!isDict(root)) throw new MetainfoError('torrent', 'not a bencoded dictionary');
  const info = root['info'];
  if (!isDict(info)) throw new MetainfoError('info', 'not a dictionary');
  const infoBytes = Buffer.from(data.subarray(span[0], span[1]));
  const infoHash = createHash('sha1').update(infoBytes).digest();

  const name = checkPathComponent(needString(info['name'], 'info.name'), 'info.name');
  const pieceLength = needInt(info['piece length'], 'info.piece length', 1);
  if (pieceLength > MAX_PIECE_LENGTH)
    throw new MetainfoError(
      'info.piece length',
      `${pieceLength} bytes is more than the ${MAX_PIECE_LENGTH} (64 MiB) accepted`,
    );
  const piecesRaw = info['pieces'];
  if (!(piecesRaw instanceof Uint8Array))
    throw new MetainfoError('info.pieces', 'missing or not a string');
  if (piecesRaw.length === 0 || piecesRaw.length % 20 !== 0)
    throw new MetainfoError('info.pieces', 'length is not a positive multiple of 20');
  const pieces = Buffer.from(piecesRaw);

  const files: TorrentFile[] = [];
  let total = 0;
  const multiFile = info['files'] !== undefined;
  if (multiFile) {
    if (info['length'] !== undefined) throw new MetainfoError('info', 'has both length and files');
    const list = info['files'];
    if (!Array.isArray(list) || list.length === 0)
      throw new MetainfoError('info.files', 'not a non-empty list');
    if (list.length > MAX_FILES)
      throw new MetainfoError(
        'info.files',
        `${list.length} files is more than the ${MAX_FILES} accepted per torrent`,
      );
    list.forEach((f, i) => {
      const field = `info.files[${i}]`;
      if (!isDict(f)) throw new MetainfoError(field, 'not a dictionary');
      const length = needInt(f['length'], `${field}.length`, 0);
      const p = f['path'];
      if (!Array.isArray(p) || p.length === 0)
        throw new MetainfoError(`${field}.path`, 'not a non-empty list');
      const path = p.map((c, j) =>
        checkPathComponent(needString(c, `${field}.path[${j}]`), `${field}.path[${j}]`),
      );
      files.push({ path, length, offset: total });
      total += length;
    });
  } else {
    const length = needInt(info['length'], 'info.length', 0);
    files.push({ path: [name], length, offset: 0 });
    total = length;
  }
  if (!Number.isSafeInteger(total)) throw new MetainfoError('info', 'total length too large');
  const pieceCount = pieces.length / 20;
  if (Math.ceil(total / pieceLength) !== pieceCount)
    throw new MetainfoError(
      'info.pieces',
      `${pieceCount} hashes but ${total} bytes in ${pieceLength}-byte pieces need ${Math.ceil(total / pieceLength)}`,
    );

  const tiers: string[][] = [];
  const al = root['announce-list'];
  if (Array.isArray(al)) {
    for (const tier of al) {
      if (!Array.isArray(tier)) continue;
      const urls = tier.filter((u): u is Uint8Array => u instanceof Uint8Array).map(str);
      if (urls.length) tiers.push(urls);
    }
  }
  if (tiers.length === 0 && root['announce'] instanceof Uint8Array)
    tiers.push([str(root['announce'])]);

  return {
    infoHash,
    infoHashHex: infoHash.toString('hex'),
    name,
    pieceLength,
    pieces,
    pieceCount,
    totalLength: total,
    files,
    multiFile,
    private: info['private'] === 1,
    announceTiers: tiers,
    infoBytes,
  };
}

/** Length of piece `i` (the last piece may be short). */
export function pieceSize(
  m: Pick<Metainfo, 'pieceLength' | 'pieceCount' | 'totalLength'>,
  i: number,
): number {
  return i === m.pieceCount - 1
    ? m.totalLength - m.pieceLength * (m.pieceCount - 1)
    : m.pieceLength;
}

/** The expected SHA-1 of piece `i`. */
export function pieceHash(m: Pick<Metainfo, 'pieces'>, i: number): Buffer {
  return m.pieces.subarray(i * 20, i * 20 + 20);
}

/** Encodes a metainfo dictionary (used to create torrents in tools and tests). */
export function encodeMetainfo(root: Record<string, unknown>): Buffer {
  return Buffer.from(bencode.encode(root));
}

/**
 * Builds .torrent bytes around a raw info dictionary (e.g. fetched by BEP 9), with
 * `trackers` as announce URLs (one tier, BEP 12). The info bytes are copied verbatim, so
 * the info hash is theirs; keys are in sorted order (announce, announce-list, info).
 */
export function torrentFromInfo(info: Uint8Array, trackers: readonly string[]): Buffer {
  const enc = (x: unknown): Buffer => Buffer.from(bencode.encode(x));
  const parts: Buffer[] = [Buffer.from('d')];
  if (trackers.length > 0)
    parts.push(enc('announce'), enc(trackers[0]), enc('announce-list'), enc([trackers]));
  parts.push(enc('info'), Buffer.from(info), Buffer.from('e'));
  return Buffer.concat(parts);
}
