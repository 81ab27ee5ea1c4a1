import { status, type ServiceError } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import type { ExchangeRequest } from '../generated/btoverlay/v1/cluster.js';
import { ClusterAuthenticator } from '../agent/security/cluster-auth.js';
import { parseClusterKeys } from '../agent/security/cluster-key.js';
import { sealBatch } from '../agent/transport/cluster-seal.js';
import { connect } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { clusterExchange, tempDir, writeKeyFile } from './helpers/security.js';

/**
 * Cluster authentication (--cluster-key): a keyless agent and an agent with the
 * wrong key cannot join a keyed cluster, and are counted; two agents mid-rotation
 * (each signing with a different key, accepting both) form one cluster; forged,
 * tampered and replayed Exchange calls are refused with UNAUTHENTICATED.
 */

const K1 = randomBytes(32).toString('hex');
const K2 = randomBytes(32).toString('hex');
const K3 = randomBytes(32).toString('hex');
const FAST = ['--probe-interval', '200ms', '--probe-timeout', '100ms', '--gossip-interval', '50ms'];

const ping = (fromId: string, fromAddr: string) => ({
  fromId,
  fromAddr,
  members: [],
  records: [],
  ping: { seq: 1, target: 'x' },
});

describe('cluster authentication', () => {
  const dir = tempDir('cluster-keys');
  // A signs with K1 and accepts K2; B signs with K2 and accepts K1: a rotation in progress.
  const keyA = writeKeyFile(dir, 'a.keys', [K1, K2]);
  const keyB = writeKeyFile(dir, 'b.keys', [K2]);
  const oldB = writeKeyFile(dir, 'b.old', [K1]);
  const keyD = writeKeyFile(dir, 'd.keys', [K3]);
  let a: AgentProcess;
  let b: AgentProcess;
  let c: AgentProcess;
  let d: AgentProcess;

  beforeAll(async () => {
    a = await startAgent(['--node-id', 'sec-a', '--cluster-key', keyA, ...FAST], {
      host: '127.0.0.1',
    });
    [b, c, d] = await Promise.all([
      startAgent(
        [
          '--node-id',
          'sec-b',
          '--cluster-key',
          keyB,
          '--cluster-key-old',
          oldB,
          '--bootstrap',
          a.addr,
          ...FAST,
        ],
        { host: '127.0.0.2' },
      ),
      startAgent(['--node-id', 'sec-c', '--no-cluster-key', '--bootstrap', a.addr, ...FAST], {
        host: '127.0.0.3',
      }),
      startAgent(['--node-id', 'sec-d', '--cluster-key', keyD, '--bootstrap', a.addr, ...FAST], {
        host: '127.0.0.4',
      }),
    ]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a, b, c, d].map((x) => x?.stop()));
  });

  it('keyed agents (mid key rotation) join; a keyless agent and a wrong-key agent cannot, and are counted', async () => {
    const client = connect(a.addr);
    const members = async (addr: string) => {
      const cl = connect(addr);
      try {
        return await cl.members();
      } finally {
        cl.close();
      }
    };
    try {
      // A and B see each other alive.
      expect(
        await eventually(async () => {
          const m = await members(a.addr);
          return m.some((x) => x.nodeId === 'sec-b' && x.state === 'alive');
        }, 8000),
      ).toBe(true);
      expect((await members(b.addr)).some((x) => x.nodeId === 'sec-a' && x.state === 'alive')).toBe(
        true,
      );
      // Refusals are counted on A: C sends unauthenticated messages, D an unknown key.
      expect(
        await eventually(async () => {
          const s = (await client.status()).securityRefusals;
          return (s['cluster_auth.missing'] ?? 0) > 0 && (s['cluster_auth.unknown_key'] ?? 0) > 0;
        }, 5000),
      ).toBe(true);
      // C and D never became members anywhere, nor learned of A or B.
      for (const addr of [a.addr, b.addr]) {
        const ids = (await members(addr)).map((m) => m.nodeId);
        expect(ids).not.toContain('sec-c');
        expect(ids).not.toContain('sec-d');
      }
      for (const addr of [c.addr, d.addr]) {
        const alive = (await members(addr)).filter((m) => m.state === 'alive').map((m) => m.nodeId);
        expect(alive).not.toContain('sec-a');
        expect(alive).not.toContain('sec-b');
      }
      // Records spread to the keyed member only.
      const ih = Buffer.from(randomInfoHash(), 'hex');
      await client.announce({ infoHash: ih, addr: '10.9.0.1:6881' });
      const seenOnB = await eventually(async () => {
        const cl = connect(b.addr);
        try {
          return (await cl.lookup(ih)).length === 1;
        } finally {
          cl.close();
        }
      }, 3000);
      expect(seenOnB).toBe(true);
      for (const addr of [c.addr, d.addr]) {
        const cl = connect(addr);
        expect(await cl.lookup(ih)).toEqual([]);
        cl.close();
      }
    } finally {
      client.close();
    }
  });

  it('refuses forged, tampered and replayed Exchange calls with UNAUTHENTICATED', async () => {
    const auth = new ClusterAuthenticator(parseClusterKeys(K1));
    const msgs = [ping('intruder', '127.0.0.9:1')];
    const code = async (req: ExchangeRequest) =>
      clusterExchange(a.addr, req).then(
        () => status.OK,
        (e: ServiceError) => e.code,
      );
    // No MAC at all: the plain `messages` field.
    expect(await code({ messages: msgs, sealed: Buffer.alloc(0), auth: undefined })).toBe(
      status.UNAUTHENTICATED,
    );
    // A valid call is answered, with a sealed reply.
    const ok = sealBatch(auth, 'request', msgs, Date.now());
    const res = await clusterExchange(a.addr, { messages: [], sealed: ok.sealed, auth: ok.auth });
    expect(res.auth?.mac.length).toBe(32);
    // The same bytes again: a replay.
    expect(await code({ messages: [], sealed: ok.sealed, auth: ok.auth })).toBe(
      status.UNAUTHENTICATED,
    );
    // One bit changed in the sealed batch.
    const t = sealBatch(auth, 'request', msgs, Date.now());
    const tampered = Buffer.from(t.sealed);
    tampered[tampered.length - 1] ^= 1;
    expect(await code({ messages: [], sealed: tampered, auth: t.auth })).toBe(
      status.UNAUTHENTICATED,
    );
    // A MAC made far in the past (outside the window).
    const old = sealBatch(auth, 'request', msgs, Date.now() - 10 * 60_000);
    expect(await code({ messages: [], sealed: old.sealed, auth: old.auth })).toBe(
      status.UNAUTHENTICATED,
    );
    const client = connect(a.addr);
    const s = (await client.status()).securityRefusals;
    client.close();
    expect(s['cluster_auth.replayed']).toBeGreaterThanOrEqual(1);
    expect(s['cluster_auth.bad_mac']).toBeGreaterThanOrEqual(1);
    expect(s['cluster_auth.stale']).toBeGreaterThanOrEqual(1);
  });

  it('a keyless agent refuses sealed calls (it cannot be made to act on the keyed cluster)', async () => {
    const auth = new ClusterAuthenticator(parseClusterKeys(K1));
    const s = sealBatch(auth, 'request', [ping('sec-a', a.addr)], Date.now());
    await expect(
      clusterExchange(c.addr, { messages: [], sealed: s.sealed, auth: s.auth }),
    ).rejects.toMatchObject({
      code: status.UNAUTHENTICATED,
    });
  });
});
