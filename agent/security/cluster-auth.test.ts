import { ClusterAuthenticator } from './cluster-auth.js';
import { ClusterKeyError, parseClusterKeys } from './cluster-key.js';

const KEY_A = 'a'.repeat(64);
const KEY_B = 'b'.repeat(64);
const payload = Buffer.from('serialized batch');

describe('cluster keys', () => {
  it('the first key signs, every key verifies; ids differ per key', () => {
    const ring = parseClusterKeys(`# rotation\n${KEY_B}\n\n${KEY_A}\n`);
    expect(ring.byId.size).toBe(2);
    expect(ring.primary.id).toMatch(/^[0-9a-f]{16}$/);
    expect(ring.primary).toEqual(parseClusterKeys(KEY_B).primary);
  });

  it('refuses empty files and short keys', () => {
    expect(() => parseClusterKeys('# nothing\n')).toThrow(ClusterKeyError);
    expect(() => parseClusterKeys('short')).toThrow(/at least 32/);
  });
});

describe('ClusterAuthenticator', () => {
  const now = 1_700_000_000_000;
  const a = new ClusterAuthenticator(parseClusterKeys(KEY_A));

  it('opens what it sealed, once', () => {
    const rx = new ClusterAuthenticator(parseClusterKeys(KEY_A));
    const tag = a.seal('request', payload, now);
    expect(rx.open('request', tag, payload, now + 10)).toBe('ok');
    expect(rx.open('request', tag, payload, now + 20)).toBe('replayed');
  });

  it('refuses a changed payload, a wrong key, no tag, and an old timestamp', () => {
    const rx = new ClusterAuthenticator(parseClusterKeys(KEY_A));
    const tag = a.seal('request', payload, now);
    const changed = Buffer.from(payload);
    changed[0] ^= 1;
    expect(rx.open('request', tag, changed, now)).toBe('bad_mac');
    const forged = { ...tag, mac: Buffer.from(tag.mac).fill(7) };
    expect(rx.open('request', forged, payload, now)).toBe('bad_mac');
    expect(rx.open('request', undefined, payload, now)).toBe('missing');
    const other = new ClusterAuthenticator(parseClusterKeys(KEY_B));
    expect(other.open('request', tag, payload, now)).toBe('unknown_key');
    expect(rx.open('request', a.seal('request', payload, now - 60_000), payload, now)).toBe(
      'stale',
    );
  });

  it('binds a response to its request and to its direction', () => {
    const rx = new ClusterAuthenticator(parseClusterKeys(KEY_A));
    const req = a.seal('request', payload, now);
    const res = rx.seal('response', payload, now, req.nonce);
    expect(a.open('response', res, payload, now, req.nonce)).toBe('ok');
    const other = a.seal('request', payload, now);
    expect(a.open('response', res, payload, now, other.nonce)).toBe('bad_mac');
    // A request cannot be passed off as a response (and vice versa).
    expect(a.open('response', req, payload, now, req.nonce)).toBe('bad_mac');
  });

  it('accepts the old key during rotation', () => {
    const rotating = new ClusterAuthenticator(parseClusterKeys(`${KEY_B}\n${KEY_A}`));
    expect(rotating.open('request', a.seal('request', payload, now), payload, now)).toBe('ok');
    const fromRotating = rotating.seal('request', payload, now);
    // An agent that has only the old key does not accept the new one yet.
    expect(
      new ClusterAuthenticator(parseClusterKeys(KEY_A)).open('request', fromRotating, payload, now),
    ).toBe('unknown_key');
  });
});
