/**
 * Ed25519 signing of many records on one worker thread, in batches. node:crypto's
 * callback form queues one libuv job per signature; at a busy tracker's rate the
 * event loop then spends ~10-20 µs per record on job set-up, completion and the
 * thread-pool wake-ups (several pool threads competing for two cores). Here the
 * records that arrive while the worker signs the previous batch travel to it as
 * one message (their canonical bytes in one transferred buffer) and their
 * signatures come back in small chunks; each record still gets its own signature
 * over its own canonical bytes (record-signature.ts), verifiable as before.
 *
 * The worker signs with libsodium (sodium-native) when it loads: ~23 µs per
 * signature here against ~45-50 µs for node:crypto (OpenSSL 3.0). Ed25519 signing
 * is deterministic (RFC 8032 §5.1.6), so both give the same bytes; the worker
 * checks that on a test message at start and otherwise uses node:crypto.
 *
 * Bounded: at most `maxPending` records queued or being signed; past that `sign`
 * refuses with ResourceExhaustedError (bound `signing_backlog`) at once, and the
 * refusal is counted. If the worker fails, what it held and everything after is
 * signed with node:crypto's callback form instead, so no record is lost.
 */
import { sign, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ResourceExhaustedError } from '../errors.js';

/** Bounds and choices of a BatchSigner. */
export interface BatchSignerOptions {
  /** Records queued or at the worker; past it `sign` refuses. */
  readonly maxPending: number;
  /** Records per message to the worker. */
  readonly maxBatch: number;
  /** Signatures per message back: small, so replies start before a large batch ends. */
  readonly replyChunk: number;
  /** "auto": libsodium when it loads and agrees with node:crypto; else node:crypto. */
  readonly backend: 'auto' | 'node:crypto';
}

/** Defaults: 4096 waiting records are ~0.1-0.2 s of signing here. */
export const DEFAULT_BATCH_SIGNER_OPTIONS: BatchSignerOptions = Object.freeze({
  maxPending: 4096,
  maxBatch: 256,
  replyChunk: 8,
  backend: 'auto',
});

/** What signs in the worker. */
export type SignerBackend = 'libsodium' | 'node:crypto';

/** Counters of a BatchSigner, for status and tests. */
export interface BatchSignerCounters {
  /** Records signed (by the worker or the fallback). */
  signed: number;
  /** Messages sent to the worker. */
  batches: number;
  /** `sign` calls refused because the backlog was full. */
  refused: number;
  /** Times the worker failed (its records were signed by the fallback). */
  workerFailures: number;
}

/** Ed25519 signature length, bytes (RFC 8032 §5.1.6). */
const SIGNATURE_BYTES = 64;
/**
 * Batches at the worker at once. One: what arrives meanwhile waits on this side and
 * goes as the next, larger batch. Every message costs the event loop ~7 µs (more
 * when it wakes an idle worker), so fewer, larger batches beat keeping a second
 * one queued at the worker (A/B under bench:tracker's load: ~4 % more announces/s).
 */
const MAX_IN_FLIGHT = 1;

/**
 * The worker. Signs each slice of `data` (ends[i] is where record i ends) and
 * sends the signatures back, `chunk` at a time, as { id, first, sigs }. Plain
 * JavaScript evaluated as a worker script, so it runs the same from dist/ and
 * under the test runner.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const SIG = ${SIGNATURE_BYTES};
const key = workerData.key;
const viaCrypto = (out, off, msg) => { crypto.sign(null, msg, key).copy(out, off); };
function viaSodium() {
  const sodium = require(workerData.sodiumPath);
  const seed = Buffer.from(key.export({ format: 'jwk' }).d, 'base64url');
  const pk = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  const sk = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(pk, sk, seed);
  seed.fill(0);
  const signInto = (out, off, msg) => sodium.crypto_sign_detached(out.subarray(off, off + SIG), msg, sk);
  // Deterministic signatures: both implementations must give the same bytes.
  const probe = Buffer.from('btoverlay batch signer self-test');
  const a = Buffer.alloc(SIG);
  const b = Buffer.alloc(SIG);
  signInto(a, 0, probe);
  viaCrypto(b, 0, probe);
  if (!a.equals(b)) throw new Error('libsodium and node:crypto disagree');
  return signInto;
}
let signInto = viaCrypto;
let backend = 'node:crypto';
if (workerData.sodiumPath !== undefined) {
  try {
    signInto = viaSodium();
    backend = 'libsodium';
  } catch {
    // node:crypto it is.
  }
}
parentPort.postMessage({ ready: backend });
parentPort.on('message', (m) => {
  const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  const ends = m.ends;
  let start = 0;
  for (let first = 0; first < ends.length; first += workerData.chunk) {
    const n = Math.min(workerData.chunk, ends.length - first);
    const out = Buffer.allocUnsafeSlow(n * SIG);
    for (let i = 0; i < n; i++) {
      const end = ends[first + i];
      signInto(out, i * SIG, data.subarray(start, end));
      start = end;
    }
    parentPort.postMessage({ id: m.id, first, sigs: out }, [out.buffer]);
  }
});
`;

/** Where sodium-native is installed, or undefined (then node:crypto signs). */
function sodiumPath(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('sodium-native');
  } catch {
    return undefined;
  }
}

/** One record waiting for its signature. */
interface Job {
  readonly data: Buffer;
  readonly resolve: (sig: string) => void;
  readonly reject: (err: Error) => void;
}

/** A batch at the worker; its signatures arrive in order, `done` so far. */
interface Batch {
  readonly jobs: Job[];
  done: number;
}

type WorkerMessage =
  | { readonly ready: SignerBackend }
  | { readonly id: number; readonly first: number; readonly sigs: Uint8Array };

/** Signs byte strings with one Ed25519 key on a worker thread, batched. */
export class BatchSigner {
  readonly counters: BatchSignerCounters = {
    signed: 0,
    batches: 0,
    refused: 0,
    workerFailures: 0,
  };
  /** What the worker signs with, once it has started. */
  backend: SignerBackend | undefined;
  private readonly options: BatchSignerOptions;
  private worker: Worker | undefined;
  private failed = false;
  private queue: Job[] = [];
  private readonly inFlight = new Map<number, Batch>();
  private nextId = 1;
  private pending = 0;
  private flushScheduled = false;

  constructor(
    private readonly privateKey: KeyObject,
    options: Partial<BatchSignerOptions> = {},
  ) {
    this.options = { ...DEFAULT_BATCH_SIGNER_OPTIONS, ...options };
  }

  /** Records queued or being signed now. */
  get backlog(): number {
    return this.pending;
  }

  /**
   * The Ed25519 signature of `data`: 64 bytes as a latin1 string (the Store's
   * form). Rejects with ResourceExhaustedError when `maxPending` records wait.
   */
  sign(data: Buffer): Promise<string> {
    if (this.pending >= this.options.maxPending) {
      this.counters.refused++;
      return Promise.reject(
        new ResourceExhaustedError(
          'signing_backlog',
          `signing backlog full (${this.options.maxPending} records waiting); retry later`,
        ),
      );
    }
    this.pending++;
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ data, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Stops the worker; what is still queued or at the worker is signed by the fallback. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failed = true;
    this.requeueInFlight();
    if (w !== undefined) {
      w.removeAllListeners();
      await w.terminate();
    }
    this.fallback();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight.size >= MAX_IN_FLIGHT) return;
    this.flushScheduled = true;
    // After the current I/O phase: every record of that phase goes in one batch.
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.failed) {
      this.fallback();
      return;
    }
    const worker = this.worker ?? this.startWorker();
    while (this.inFlight.size < MAX_IN_FLIGHT && this.queue.length > 0) {
      let jobs = this.queue;
      if (jobs.length <= this.options.maxBatch) this.queue = [];
      else {
        jobs = this.queue.slice(0, this.options.maxBatch);
        this.queue = this.queue.slice(this.options.maxBatch);
      }
      let size = 0;
      for (const j of jobs) size += j.data.length;
      // Not from Buffer's shared pool: the memory moves to the worker.
      const data = Buffer.allocUnsafeSlow(size);
      const ends = new Uint32Array(jobs.length);
      let o = 0;
      for (let i = 0; i < jobs.length; i++) {
        o += jobs[i].data.copy(data, o);
        ends[i] = o;
      }
      const id = this.nextId++;
      if (this.inFlight.size === 0) worker.ref();
      this.inFlight.set(id, { jobs, done: 0 });
      this.counters.batches++;
      worker.postMessage({ id, data, ends }, [data.buffer, ends.buffer]);
    }
  };

  private startWorker(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        key: this.privateKey,
        chunk: this.options.replyChunk,
        sodiumPath: this.options.backend === 'auto' ? sodiumPath() : undefined,
      },
      // Signing needs no more than a small heap.
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    });
    // Idle, the worker must not keep the process alive; it is ref'd while it holds work.
    worker.unref();
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', () => this.onWorkerFailure());
    worker.on('exit', () => this.onWorkerFailure());
    this.worker = worker;
    return worker;
  }

  private onMessage(m: WorkerMessage): void {
    if ('ready' in m) {
      this.backend = m.ready;
      return;
    }
    const batch = this.inFlight.get(m.id);
    if (batch === undefined) return;
    const sigs = Buffer.from(m.sigs.buffer, m.sigs.byteOffset, m.sigs.byteLength);
    const n = sigs.length / SIGNATURE_BYTES;
    for (let i = 0; i < n; i++) {
      batch.jobs[m.first + i].resolve(
        sigs.toString('latin1', i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES),
      );
    }
    batch.done += n;
    this.pending -= n;
    this.counters.signed += n;
    if (batch.done < batch.jobs.length) return;
    this.inFlight.delete(m.id);
    if (this.inFlight.size === 0) this.worker?.unref();
    if (this.queue.length > 0) this.scheduleFlush();
  }

  private onWorkerFailure(): void {
    if (this.failed) return;
    this.failed = true;
    this.counters.workerFailures++;
    this.worker?.removeAllListeners();
    this.worker = undefined;
    this.requeueInFlight();
    this.fallback();
  }

  /** Puts the records the worker has not answered back at the front of the queue. */
  private requeueInFlight(): void {
    const held: Job[] = [];
    for (const b of this.inFlight.values()) held.push(...b.jobs.slice(b.done));
    this.inFlight.clear();
    this.queue = [...held, ...this.queue];
  }

  /** Signs everything queued with node:crypto's callback form (one libuv job each). */
  private fallback(): void {
    const jobs = this.queue;
    this.queue = [];
    for (const job of jobs) {
      sign(null, job.data, this.privateKey, (err, sig) => {
        this.pending--;
        if (err !== null) {
          job.reject(err);
          return;
        }
        this.counters.signed++;
        job.resolve(sig.toString('latin1'));
      });
    }
  }
}
