import { generateKeyPairSync } from 'node:crypto';
import { rawPublicKey } from './identity.js';
import { RecordGuard, type RecordGuardOptions } from './record-guard.js';
import { canonicalRecord, createRecordSigner } from './record-signature.js';
import { parseTrustedKeys } from './trusted-keys.js';
import type { ProviderRecord } from '../store/record.js';

const KEY = 'ab'.repeat(20);
const now = 1_700_000_000_000;

function signer() {
  const { privateKey } = generateKeyPairSync('ed25519');
  return createRecordSigner(privateKey, rawPublicKey(privateKey));
}

const base: ProviderRecord = {
  addr: '10.0.0.7:6881',
  peerId: '-BT0001-abcdefghijkl',
  left: 42,
  lastSeen: now,
  origin: 'agent-a',
  removed: false,
};

function guard(over: Partial<RecordGuardOptions> = {}): RecordGuard {
  return new RecordGuard({
    requireSigned: true,
    trusted: undefined,
    selfKey: 'x'.repeat(32),
    selfOrigin: 'self',
    pinTtlMs: 90_000,
    maxSkewMs: 30_000,
    maxPins: 100,
    ...over,
  });
}

describe('record signatures', () => {
  it('a signed record verifies; any change to a signed field is refused', () => {
    const a = signer();
    const g = guard();
    const signed = a.sign(KEY, base);
    expect(g.check(KEY, signed, now)).toBe('ok');
    const tampered: ProviderRecord[] = [
      { ...signed, addr: '10.0.0.8:6881' },
      { ...signed, left: 0 },
      { ...signed, lastSeen: now + 1 },
      { ...signed, removed: true },
      { ...signed, peerId: '-BT0001-abcdefghijkm' },
    ];
    for (const t of tampered) expect(g.check(KEY, t, now)).toBe('bad_signature');
    // The same record under another info hash is not the signed statement either.
    expect(g.check('cd'.repeat(20), signed, now)).toBe('bad_signature');
    expect(g.refused.bad_signature).toBe(6);
  });

  it('the encoding is unambiguous: moving bytes between fields changes it', () => {
    const k = 'k'.repeat(32);
    const x = canonicalRecord(KEY, { ...base, origin: 'ab', addr: 'c:1' }, k);
    const y = canonicalRecord(KEY, { ...base, origin: 'a', addr: 'bc:1' }, k);
    expect(x.equals(y)).toBe(false);
  });

  it('unsigned records are refused when signatures are required, else accepted', () => {
    expect(guard().check(KEY, base, now)).toBe('unsigned');
    const lax = guard({ requireSigned: false });
    expect(lax.check(KEY, base, now)).toBe('ok');
    expect(lax.acceptedUnsigned).toBe(1);
  });

  it('an origin is bound to the first key that signed for it (no re-signing under a forged origin)', () => {
    const a = signer();
    const mallory = signer();
    const g = guard();
    expect(g.check(KEY, a.sign(KEY, base), now)).toBe('ok');
    const forged = mallory.sign(KEY, { ...base, lastSeen: now + 5 });
    expect(g.check(KEY, forged, now)).toBe('origin_key_mismatch');
    // Nobody may sign in this agent's own name.
    expect(g.check(KEY, mallory.sign(KEY, { ...base, origin: 'self' }), now)).toBe(
      'origin_key_mismatch',
    );
    // After the pin's records could all have expired, a new key may take the name (restart).
    expect(g.check(KEY, forged, now + 90_001)).toBe('ok');
  });

  it('legacy relays are vouched by their signer and not pinned', () => {
    const a = signer();
    const b = signer();
    const g = guard();
    const rec = { ...base, origin: 'legacy:10.0.0.7' };
    expect(g.check(KEY, a.sign(KEY, rec), now)).toBe('ok');
    expect(g.check(KEY, b.sign(KEY, rec), now)).toBe('ok');
  });

  it('--trusted-keys restricts signers, and a named key only signs for its node', () => {
    const a = signer();
    const b = signer();
    const hex = (k: string) => Buffer.from(k, 'latin1').toString('hex');
    const trusted = parseTrustedKeys(`${hex(a.publicKey)} agent-a\n# b is not listed\n`);
    const g = guard({ trusted });
    expect(g.check(KEY, a.sign(KEY, base), now)).toBe('ok');
    expect(g.check(KEY, b.sign(KEY, base), now)).toBe('untrusted_key');
    expect(g.check(KEY, a.sign(KEY, { ...base, origin: 'agent-z' }), now)).toBe(
      'origin_key_mismatch',
    );
  });

  it('a signed record from beyond the skew is refused (it cannot be clamped)', () => {
    const a = signer();
    expect(guard().check(KEY, a.sign(KEY, { ...base, lastSeen: now + 60_000 }), now)).toBe(
      'future',
    );
  });
});
