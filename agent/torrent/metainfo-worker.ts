/**
 * parseMetainfo off the event loop. Decoding a .torrent costs time in proportion
 * to its elements: ~100-300 ms for a 9 000-file one (bencode's decoder), seconds
 * for a 32 MiB file of tiny elements — long enough to stall gossip and health.
 * Larger inputs are therefore parsed on one lazily started worker thread, one at
 * a time, with a bounded queue; small ones (≤ INLINE_BYTES) inline, where a
 * round trip to the worker would cost more than the parse.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ResourceExhaustedError } from '../errors.js';
import { MetainfoError } from './errors.js';
import { parseMetainfo, type Metainfo } from './metainfo.js';

/** Inputs up to this size are parsed inline: a few hundred files, well under 10 ms. */
export const INLINE_BYTES = 16 * 1024;
/** Parses waiting for the worker at most (each is an operator's Add or a resumed torrent). */
export const MAX_PENDING_PARSES = 16;

const ROLE = 'btoverlay-metainfo-parser';

type Reply =
  { id: number; meta: Metainfo } | { id: number; error: { field?: string; message: string } };

if (!isMainThread && workerData === ROLE) {
  parentPort!.on('message', ({ id, data }: { id: number; data: Uint8Array }) => {
    let reply: Reply;
    try {
      reply = { id, meta: parseMetainfo(data) };
    } catch (e) {
      const err = e as Error;
      reply = {
        id,
        error: {
          field: e instanceof MetainfoError ? e.field : undefined,
          message: e instanceof MetainfoError ? err.message.slice(e.field.length + 2) : err.message,
        },
      };
    }
    parentPort!.postMessage(reply);
  });
}

/** Structured clone turns Buffers into plain Uint8Arrays; wrap them back (no copy). */
const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (m: Metainfo) => void; reject: (e: Error) => void }>();

function theWorker(): Worker {
  if (worker !== undefined) return worker;
  const w = new Worker(new URL(import.meta.url), { workerData: ROLE });
  w.unref(); // kept alive only while a parse is pending (ref below)
  w.on('message', (r: Reply) => {
    const p = pending.get(r.id);
    pending.delete(r.id);
    if (pending.size === 0) w.unref();
    if (p === undefined) return;
    if ('error' in r) {
      const { field, message } = r.error;
      p.reject(field === undefined ? new Error(message) : new MetainfoError(field, message));
      return;
    }
    const m = r.meta;
    p.resolve({
      ...m,
      infoHash: buf(m.infoHash),
      pieces: buf(m.pieces),
      infoBytes: buf(m.infoBytes),
    });
  });
  const fail = (err: Error): void => {
    worker = undefined;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`metainfo worker exited (${code})`)));
  worker = w;
  return w;
}

/**
 * parseMetainfo, without blocking the event loop for large inputs. Rejects with the
 * same MetainfoError (field and message) as the synchronous parser, or with
 * ResourceExhaustedError when MAX_PENDING_PARSES are already waiting.
 */
export function parseMetainfoAsync(data: Uint8Array): Promise<Metainfo> {
  // Under ts-jest this module is TypeScript source, which a worker cannot load.
  if (data.length <= INLINE_BYTES || import.meta.url.endsWith('.ts')) {
    try {
      return Promise.resolve(parseMetainfo(data));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  if (pending.size >= MAX_PENDING_PARSES) {
    return Promise.reject(
      new ResourceExhaustedError(
        'metainfo_parse_queue',
        `${MAX_PENDING_PARSES} .torrent files are already being parsed; try again`,
      ),
    );
  }
  const w = theWorker();
  const id = nextId++;
  return new Promise<Metainfo>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, data });
  });
}
