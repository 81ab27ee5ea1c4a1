/**
 * Creates .torrent files from content on disk (tools and tests). Streams the data through
 * SHA-1 piece by piece, so any size works in bounded memory.
 */
import { createReadStream, statSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join, relative, sep } from 'node:path';
import bencode from 'bencode';
import { MetainfoError } from './errors.js';
import { encodeMetainfo, findTopLevelValue } from './metainfo.js';

export interface CreateTorrentOptions {
  /** A file (single-file torrent) or a directory (multi-file). */
  path: string;
  pieceLength: number;
  announce?: string[];
  private?: boolean;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Builds the bencoded .torrent for `path`. */
export async function createTorrent(o: CreateTorrentOptions): Promise<Buffer> {
  const multi = statSync(o.path).isDirectory();
  const paths = multi ? listFiles(o.path) : [o.path];
  const pieces: Buffer[] = [];
  let hash = createHash('sha1');
  let inPiece = 0;
  for (const p of paths) {
    for await (const chunk of createReadStream(p, {
      highWaterMark: 1 << 20,
    }) as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(chunk.length - off, o.pieceLength - inPiece);
        hash.update(chunk.subarray(off, off + n));
        off += n;
        inPiece += n;
        if (inPiece === o.pieceLength) {
          pieces.push(hash.digest());
          hash = createHash('sha1');
          inPiece = 0;
        }
      }
    }
  }
  if (inPiece > 0) pieces.push(hash.digest());
  const info: Record<string, unknown> = {
    name: basename(o.path),
    'piece length': o.pieceLength,
    pieces: Buffer.concat(pieces),
  };
  if (multi)
    info['files'] = paths.map((p) => ({
      length: statSync(p).size,
      path: relative(o.path, p).split(sep),
    }));
  else info['length'] = statSync(o.path).size;
  if (o.private) info['private'] = 1;
  const root: Record<string, unknown> = { info, 'created by': 'btoverlay' };
  if (o.announce?.length) {
    root['announce'] = o.announce[0];
    root['announce-list'] = [o.announce];
  }
  return encodeMetainfo(root);
}

/**
 * Returns a copy of a .torrent with its announce URLs replaced. The `info` bytes are
 * copied verbatim (the info hash cannot change); other keys are dropped.
 */
export function withTrackers(torrent: Uint8Array, urls: string[]): Buffer {
  const span = findTopLevelValue(torrent, 'info');
  if (!span) throw new MetainfoError('info', 'missing');
  const enc = (x: unknown): Buffer => Buffer.from(bencode.encode(x));
  // Keys in sorted order (BEP 3 dictionaries): announce, announce-list, info.
  return Buffer.concat([
    Buffer.from('d'),
    enc('announce'),
    enc(urls[0] ?? ''),
    enc('announce-list'),
    enc([urls]),
    enc('info'),
    Buffer.from(torrent.subarray(span[0], span[1])),
    Buffer.from('e'),
  ]);
}
