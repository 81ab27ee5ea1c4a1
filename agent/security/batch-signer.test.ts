/**
 * Batched signing on the worker: each record's own Ed25519 signature, the same
 * bytes node:crypto gives (libsodium or not), the backlog bound, the fallback when
 * the worker goes away, and the canonical bytes unchanged from their first form.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { ResourceExhaustedError } from '../errors.js';
import type { ProviderRecord } from '../store/record.js';
import { BatchSigner } from './batch-signer.js';
import {
  canonicalRecord,
  createRecordSigner,
  publicKeyObject,
  verifyRecord,
} from './record-signature.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const RAW_PUBLIC = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
const KEY = 'ab'.repeat(20);

function record(i: number): ProviderRecord {
  return {
    addr: `10.0.${i >> 8}.${i & 0xff}:6881`,
    peerId: `-XX0001-${String(i).padStart(12, '0')}`,
    left: i % 3 === 0 ? 0 : i * 1024,
    lastSeen: 1_800_000_000_000 + i,
    origin: 'node-a',
    removed: i % 7 === 0,
  };
}

/** canonicalRecord as it was first written (Buffer per field, BigInt numbers). */
function canonicalReference(key: string, r: ProviderRecord, signer: string): Buffer {
  const parts = [
    Buffer.from(r.origin, 'utf8'),
    Buffer.from(key, 'hex'),
    Buffer.from(r.addr, 'utf8'),
    Buffer.from(r.peerId, 'latin1'),
  ];
  const tag = Buffer.from('btoverlay-record-v1', 'latin1');
  let size = tag.length + 8 + 8 + 1 + 32;
  for (const p of parts) size += 2 + p.length;
  const out = Buffer.alloc(size);
  let o = tag.copy(out, 0);
  for (const p of parts) {
    o = out.writeUInt16BE(p.length, o);
    o += p.copy(out, o);
  }
  o = out.writeBigUInt64BE(BigInt(r.left), o);
  o = out.writeBigInt64BE(BigInt(r.lastSeen), o);
  o = out.writeUInt8(r.removed ? 1 : 0, o);
  out.write(signer, o, 'latin1');
  return out;
}

describe('canonicalRecord', () => {
  it('writes the same bytes as its first form, for any record', () => {
    fc.assert(
      fc.property(
        fc.record({
          addr: fc.string({ maxLength: 60, unit: 'binary' }),
          peerId: fc.string({ maxLength: 20 }).map((s) => Buffer.from(s).toString('latin1')),
          left: fc.maxSafeNat(),
          lastSeen: fc.maxSafeInteger(),
          origin: fc.string({ maxLength: 40, unit: 'binary' }),
          removed: fc.boolean(),
        }),
        fc.constantFrom('ab'.repeat(20), 'cd'.repeat(32)),
        fc.string({ minLength: 0, maxLength: 40 }).map((s) => Buffer.from(s).toString('latin1')),
        (r, key, signer) => {
          expect(canonicalRecord(key, r, signer)).toEqual(canonicalReference(key, r, signer));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('BatchSigner', () => {
  it.each(['auto', 'node:crypto'] as const)(
    'gives every record its own signature, as node:crypto would (backend %s)',
    async (backend) => {
      const signer = new BatchSigner(privateKey, { backend, replyChunk: 3 });
      try {
        const data = Array.from({ length: 50 }, (_, i) => canonicalRecord(KEY, record(i), 'k'));
        const sigs = await Promise.all(data.map((d) => signer.sign(d)));
        sigs.forEach((sig, i) => {
          expect(Buffer.from(sig, 'latin1')).toEqual(sign(null, data[i], privateKey));
        });
        expect(signer.counters.signed).toBe(50);
        // One turn of the event loop: one message to the worker.
        expect(signer.counters.batches).toBe(1);
        // This project installs libsodium; the worker must have loaded it.
        expect(signer.backend).toBe(backend === 'auto' ? 'libsodium' : 'node:crypto');
      } finally {
        await signer.close();
      }
    },
  );

  it('refuses at once, counted, past its backlog bound; accepts again once it drains', async () => {
    const signer = new BatchSigner(privateKey, { maxPending: 3 });
    try {
      const first = [0, 1, 2].map((i) => signer.sign(canonicalRecord(KEY, record(i), 'k')));
      await expect(signer.sign(canonicalRecord(KEY, record(3), 'k'))).rejects.toThrow(
        ResourceExhaustedError,
      );
      expect(signer.counters.refused).toBe(1);
      await Promise.all(first);
      expect(signer.backlog).toBe(0);
      await expect(signer.sign(canonicalRecord(KEY, record(4), 'k'))).resolves.toHaveLength(64);
    } finally {
      await signer.close();
    }
  });

  it('signs what it still holds without the worker when it is closed', async () => {
    const signer = new BatchSigner(privateKey);
    const data = Array.from({ length: 20 }, (_, i) => canonicalRecord(KEY, record(i), 'k'));
    const pending = data.map((d) => signer.sign(d));
    await signer.close();
    const sigs = await Promise.all(pending);
    sigs.forEach((sig, i) => {
      expect(Buffer.from(sig, 'latin1')).toEqual(sign(null, data[i], privateKey));
    });
  });
});

describe('RecordSigner.signAsync', () => {
  it('stores a signature each record verifies with', async () => {
    const signer = createRecordSigner(privateKey, RAW_PUBLIC);
    const key = publicKeyObject(RAW_PUBLIC);
    const signed = await Promise.all(
      Array.from({ length: 40 }, (_, i) => signer.signAsync(KEY, record(i))),
    );
    for (const [i, r] of signed.entries()) {
      expect(r).toEqual({ ...record(i), signer: signer.publicKey, sig: r.sig });
      expect(verifyRecord(KEY, r, key)).toBe(true);
      expect(verifyRecord(KEY, { ...r, left: r.left + 1 }, key)).toBe(false);
      expect(r.sig).toBe(signer.sign(KEY, record(i)).sig);
    }
  });
});
