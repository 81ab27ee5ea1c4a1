import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterMessage } from '../generated/btoverlay/v1/cluster.js';
import { ClusterAuthenticator } from '../agent/security/cluster-auth.js';
import { parseClusterKeys } from '../agent/security/cluster-key.js';
import { IDENTITY_FILE, rawPublicKey } from '../agent/security/identity.js';
import { createRecordSigner, type RecordSigner } from '../agent/security/record-signature.js';
import { sealBatch } from '../agent/transport/cluster-seal.js';
import { recordToWire } from '../agent/transport/convert.js';
import type { ProviderRecord } from '../agent/store/record.js';
import { connect } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { clusterExchange, legacyExchange, tempDir, writeKeyFile } from './helpers/security.js';

/**
 * Signed provider records: every record an agent originates carries its
 * Ed25519 signature; receivers verify before merging. The test plays a member
 * holding the cluster key (so only the record checks can stop it) and pushes
 * tampered, unsigned, re-signed and replayed records to a real agent.
 */

const KEY = randomBytes(32).toString('hex');

function newSigner(): RecordSigner {
  const { privateKey } = generateKeyPairSync('ed25519');
  return createRecordSigner(privateKey, rawPublicKey(privateKey));
}

async function status(addr: string) {
  const c = connect(addr);
  try {
    return await c.status();
  } finally {
    c.close();
  }
}

async function lookup(addr: string, ih: Buffer) {
  const c = connect(addr);
  try {
    return await c.lookup(ih);
  } finally {
    c.close();
  }
}

describe('signed provider records', () => {
  const dir = tempDir('records');
  const keyFile = writeKeyFile(dir, 'cluster.keys', [KEY]);
  const auth = new ClusterAuthenticator(parseClusterKeys(KEY));
  const member = newSigner();
  const trustedFile = writeKeyFile(dir, 'trusted.keys', [
    `${Buffer.from(member.publicKey, 'latin1').toString('hex')} test-member`,
  ]);
  const dataDir = join(dir, 'data-a');
  let a: AgentProcess;
  let b: AgentProcess;
  let t: AgentProcess;

  /** Pushes records to `addr` as a keyed member would (a sealed Cluster.Exchange push). */
  async function push(addr: string, ih: Buffer, records: ProviderRecord[]): Promise<void> {
    const msg: ClusterMessage = {
      fromId: 'test-member',
      fromAddr: '127.0.0.9:1',
      members: [],
      records: [{ infoHash: ih, providers: records.map(recordToWire) }],
      push: {},
    };
    const s = sealBatch(auth, 'request', [msg], Date.now());
    await clusterExchange(addr, { messages: [], sealed: s.sealed, auth: s.auth });
  }

  beforeAll(async () => {
    const fast = ['--gossip-interval', '50ms'];
    a = await startAgent([
      '--node-id',
      'rec-a',
      '--cluster-key',
      keyFile,
      '--data-dir',
      dataDir,
      ...fast,
    ]);
    [b, t] = await Promise.all([
      startAgent(['--node-id', 'rec-b', '--cluster-key', keyFile, '--bootstrap', a.addr, ...fast], {
        host: '127.0.0.2',
      }),
      // Accepts only the test member's key (and its own).
      startAgent(['--node-id', 'rec-t', '--cluster-key', keyFile, '--trusted-keys', trustedFile], {
        host: '127.0.0.3',
      }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a, b, t].map((x) => x?.stop()));
  });

  it('records spread signed by their origin; legacy records are relayed signed by the receiving agent', async () => {
    const sa = await status(a.addr);
    expect(sa.publicKey).toMatch(/^[0-9a-f]{64}$/);
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const c = connect(a.addr);
    await c.announce({ infoHash: ih, addr: '10.1.0.1:6881' });
    c.close();
    expect(await eventually(async () => (await lookup(b.addr, ih)).length === 1, 3000)).toBe(true);
    expect((await lookup(b.addr, ih))[0].origin).toBe('rec-a');
    // A legacy announce into A (trusted loopback source) reaches B as a legacy-origin record.
    const ih2 = randomInfoHash();
    const pct = ih2.toUpperCase().replace(/(..)/g, '%$1');
    await legacyExchange(
      a.port,
      `{"type":"announce","info_hash":"${pct}","providers":[{"addr":"10.1.0.2:6881","peer_id":"","left":0,"last_seen":0}]}\n`,
    );
    expect(
      await eventually(
        async () => (await lookup(b.addr, Buffer.from(ih2, 'hex'))).length === 1,
        3000,
      ),
    ).toBe(true);
    expect((await lookup(b.addr, Buffer.from(ih2, 'hex')))[0].origin).toBe('legacy:127.0.0.1');
    // Nothing valid was refused along the way.
    expect(
      Object.keys((await status(b.addr)).securityRefusals).filter((k) => k.startsWith('record.')),
    ).toEqual([]);
  });

  it('refuses a tampered record, an unsigned one, and one re-signed under another origin; counts them', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const key = ih.toString('hex');
    const now = Date.now();
    const base: ProviderRecord = {
      addr: '10.2.0.1:6881',
      peerId: '-BT0001-abcdefghijkl',
      left: 100,
      lastSeen: now,
      origin: 'test-member',
      removed: false,
    };
    const good = member.sign(key, base);
    // Tampered after signing: points the swarm elsewhere.
    await push(a.addr, ih, [{ ...good, addr: '10.2.0.66:6881' }]);
    // Unsigned.
    await push(a.addr, ih, [{ ...base, addr: '10.2.0.3:6881' }]);
    expect(await lookup(a.addr, ih)).toEqual([]);
    // The genuine record is accepted.
    await push(a.addr, ih, [good]);
    expect((await lookup(a.addr, ih)).map((p) => p.addr)).toEqual(['10.2.0.1:6881']);
    // Another key signs a newer record in the same origin's name: refused, state unchanged.
    const mallory = newSigner();
    await push(a.addr, ih, [mallory.sign(key, { ...base, lastSeen: now + 1000, removed: true })]);
    // Nobody may sign in the agent's own name either.
    await push(a.addr, ih, [
      mallory.sign(key, { ...base, addr: '10.2.0.4:6881', origin: 'rec-a' }),
    ]);
    expect((await lookup(a.addr, ih)).map((p) => p.addr)).toEqual(['10.2.0.1:6881']);
    const s = (await status(a.addr)).securityRefusals;
    expect(s['record.bad_signature']).toBeGreaterThanOrEqual(1);
    expect(s['record.unsigned']).toBeGreaterThanOrEqual(1);
    expect(s['record.origin_key_mismatch']).toBeGreaterThanOrEqual(2);
  });

  it('a replayed old record cannot roll back newer state', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const key = ih.toString('hex');
    const now = Date.now();
    const rec = (lastSeen: number, left: number): ProviderRecord =>
      member.sign(key, {
        addr: '10.3.0.1:6881',
        peerId: '',
        left,
        lastSeen,
        origin: 'test-member',
        removed: false,
      });
    const old = rec(now - 5000, 500);
    await push(a.addr, ih, [old]);
    await push(a.addr, ih, [rec(now, 0)]);
    await push(a.addr, ih, [old]); // replay, validly signed but older
    const got = await lookup(a.addr, ih);
    expect(got.map((p) => [p.addr, p.left])).toEqual([['10.3.0.1:6881', 0n]]);
  });

  it('--trusted-keys accepts only the listed signer keys', async () => {
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const key = ih.toString('hex');
    const base: ProviderRecord = {
      addr: '10.4.0.1:6881',
      peerId: '',
      left: 0,
      lastSeen: Date.now(),
      origin: 'test-member',
      removed: false,
    };
    const stranger = newSigner();
    await push(t.addr, ih, [stranger.sign(key, { ...base, origin: 'stranger' })]);
    expect(await lookup(t.addr, ih)).toEqual([]);
    await push(t.addr, ih, [member.sign(key, base)]);
    expect((await lookup(t.addr, ih)).map((p) => p.addr)).toEqual(['10.4.0.1:6881']);
    expect((await status(t.addr)).securityRefusals['record.untrusted_key']).toBe(1);
  });

  it('the identity is created 0600 in --data-dir and survives a restart', async () => {
    const file = join(dataDir, IDENTITY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const before = (await status(a.addr)).publicKey;
    // The data dir's LOCK admits one live agent at a time: restart, not a second copy.
    await a.stop();
    const again = await startAgent(['--node-id', 'rec-a2', '--data-dir', dataDir], {
      host: '127.0.0.4',
    });
    try {
      expect((await status(again.addr)).publicKey).toBe(before);
    } finally {
      await again.stop();
    }
    // Another agent (its own data dir) has a key of its own.
    expect((await status(b.addr)).publicKey).not.toBe(before);
  });
});
