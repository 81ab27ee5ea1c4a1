/**
 * `npm run bench:store` — the Store's merge and lookup rates and its memory per
 * provider at 1 000 000 providers, against a naive map-of-maps store of plain
 * objects (the legacy node's layout) in the same run. Prints the ratio last.
 *
 * Flags: --providers N (default 1000000), --per-hash N (default 20).
 */
import { Store } from '../../agent/store/store.js';
import type { ProviderRecord } from '../../agent/store/record.js';
import { numberOption } from './args.js';

const PROVIDERS = numberOption('--providers', 1_000_000);
const PER_HASH = numberOption('--per-hash', 20);
const HASHES = Math.ceil(PROVIDERS / PER_HASH);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

/** What both stores implement for the benchmark. */
interface BenchStore {
  merge(key: string, r: ProviderRecord, now: number): unknown;
  lookup(key: string, limit: number, now: number): unknown[];
}

/** The legacy layout: info hash → addr → record, sorted on every lookup. */
class NaiveStore implements BenchStore {
  private readonly m = new Map<string, Map<string, ProviderRecord>>();
  merge(key: string, r: ProviderRecord): void {
    let byAddr = this.m.get(key);
    if (byAddr === undefined) this.m.set(key, (byAddr = new Map()));
    const old = byAddr.get(r.addr);
    if (old === undefined || r.lastSeen > old.lastSeen) byAddr.set(r.addr, r);
  }
  lookup(key: string, limit: number, now: number): ProviderRecord[] {
    const all = [...(this.m.get(key)?.values() ?? [])].filter((r) => r.lastSeen + 90_000 > now);
    return all.sort((a, b) => b.lastSeen - a.lastSeen).slice(0, limit);
  }
}

// Strings built the way the wire decoder builds them (flat, not concatenations).
const flat = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');
const keys = Array.from({ length: HASHES }, (_, h) => flat(h.toString(16).padStart(40, '0')));

// Signed records, as agents hold them since records are signed (agent/security): one
// Ed25519 key per origin (interned by the Store) and a 64-byte signature per record.
const signers = Array.from({ length: 8 }, (_, i) => flat(String.fromCharCode(65 + i).repeat(32)));
const sigOf = (n: number): string => flat(String(n).padStart(16, '0').repeat(4));

function fill(store: BenchStore, now: number, signed = false): number {
  const t0 = performance.now();
  let n = 0;
  for (let h = 0; h < HASHES && n < PROVIDERS; h++) {
    for (let p = 0; p < PER_HASH && n < PROVIDERS; p++, n++) {
      store.merge(
        keys[h],
        {
          addr: flat(`10.${(h >> 16) & 255}.${(h >> 8) & 255}.${h & 255}:${6881 + p}`),
          peerId: flat(`-BT0001-${String(n).padStart(12, '0')}`),
          left: (p * 7919) % 1_000_000,
          lastSeen: now - p,
          origin: `node-${p % 8}`,
          removed: false,
          signer: signed ? signers[p % 8] : undefined,
          sig: signed ? sigOf(n) : undefined,
        },
        now,
      );
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

function lookups(store: BenchStore, now: number): number {
  const n = 500_000;
  const t0 = performance.now();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += store.lookup(keys[(i * 7919) % HASHES], 50, now).length;
  if (sink === 0) throw new Error('lookups found nothing');
  return n / ((performance.now() - t0) / 1000);
}

function measure(
  name: string,
  make: () => BenchStore,
  signed = false,
): { bytes: number; merges: number; lookups: number; rss: number } {
  gc!();
  gc!();
  const before = process.memoryUsage().heapUsed;
  const now = Date.now();
  const store = make();
  const merges = fill(store, now, signed);
  gc!();
  gc!();
  const mem = process.memoryUsage();
  const bytes = (mem.heapUsed - before) / PROVIDERS;
  const l = lookups(store, now);
  console.log(
    `${name.padEnd(8)} merges/s ${Math.round(merges).toLocaleString('en')}  lookups/s ${Math.round(l).toLocaleString('en')}  ` +
      `bytes/provider ${bytes.toFixed(1)}  rss ${(mem.rss / 1e6).toFixed(0)} MB`,
  );
  return { bytes, merges, lookups: l, rss: mem.rss };
}

console.log(
  `${PROVIDERS.toLocaleString('en')} providers, ${PER_HASH} per info hash, ${HASHES.toLocaleString('en')} info hashes`,
);
const ours = measure('store', () => new Store({ maxInfoHashes: HASHES + 1 }));
const signed = measure('signed', () => new Store({ maxInfoHashes: HASHES + 1 }), true);
const goalBytes = ours.bytes <= 200 ? 'PASS' : 'FAIL';
const goalRss = ours.rss <= 300e6 ? 'PASS' : 'FAIL';
// The naive store runs second so that its garbage does not count against ours.
const naive = measure('naive', () => new NaiveStore());
console.log(`${goalBytes} bytes/provider ${ours.bytes.toFixed(1)} <= 200`);
console.log(`${goalRss} rss ${(ours.rss / 1e6).toFixed(0)} MB <= 300 MB (with 1M providers)`);
console.log(
  `signed records cost ${(signed.bytes - ours.bytes).toFixed(1)} B more per provider (64-byte signature; signer key interned)`,
);
console.log(`lookup rate ratio store/naive: ${(ours.lookups / naive.lookups).toFixed(2)}`);
console.log(
  `memory ratio naive/store (bytes per provider): ${(naive.bytes / ours.bytes).toFixed(2)}`,
);
