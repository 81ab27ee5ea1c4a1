import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExchangeRequest,
  MemberState,
  type ClusterMessage,
} from '../generated/btoverlay/v1/cluster.js';
import { GossipRequest } from '../generated/btoverlay/v1/overlay.js';
import { maxIncarnation } from '../agent/membership/incarnation.js';
import { connect, type AgentClient } from '../control/client.js';
import {
  btctl,
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { outsiderOrSkip, type Outsider } from './helpers/outsider.js';
import { outsiderGrpc, outsiderLegacy, outsiderUdp } from './helpers/outsider-net.js';
import { legacyExchange } from './helpers/security.js';

/**
 * Secure-by-default cluster traffic, seen from another host (an outsider
 * namespace): a default agent (no key flags, on 0.0.0.0) generates a cluster key
 * in its data dir and refuses unsealed Gossip, Exchange and probe datagrams; a
 * second agent given that key file joins, a third without it never does; a
 * poisoned incarnation changes nothing, keyed or not; legacy writes come only
 * from legacy sources; a restart keeps the identity.
 */

const outsider: Outsider | undefined = outsiderOrSkip('security-defaults');

const FAST = ['--probe-interval', '200ms', '--probe-timeout', '100ms', '--gossip-interval', '50ms'];
const UNAUTHENTICATED = 16;

/** A port free for TCP and UDP on every address (the agent binds both). */
async function freePort(): Promise<number> {
  for (;;) {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '0.0.0.0', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((r) => {
      udp.once('error', () => r(false));
      udp.bind(port, '0.0.0.0', () => r(true));
    });
    udp.close();
    if (ok) return port;
  }
}

/** On every address (reachable from the outsider), advertised on loopback to the others. */
async function open(): Promise<string[]> {
  const port = await freePort();
  return ['--listen', `0.0.0.0:${port}`, '--advertise', `127.0.0.1:${port}`];
}

const hex = (ih: string): Buffer => Buffer.from(ih, 'hex');

/** One unsealed cluster message as an intruder writes it. */
function intrusion(o: Outsider, ih: string, extra: Partial<ClusterMessage>): ClusterMessage {
  return {
    fromId: 'intruder',
    fromAddr: `${o.ip}:7000`,
    members: [
      {
        nodeId: 'intruder',
        addr: `${o.ip}:7000`,
        state: MemberState.MEMBER_STATE_ALIVE,
        incarnation: 1n,
        reporter: '',
      },
    ],
    records: [
      {
        infoHash: hex(ih),
        providers: [
          {
            addr: '198.18.200.1:6881',
            peerId: Buffer.alloc(0),
            left: 0n,
            lastSeen: BigInt(Date.now()),
            origin: 'intruder',
            removed: false,
            originKey: Buffer.alloc(0),
            signature: Buffer.alloc(0),
          },
        ],
      },
    ],
    ...extra,
  };
}

const datagram = (messages: ClusterMessage[]): Uint8Array =>
  ExchangeRequest.encode({ messages, sealed: Buffer.alloc(0), auth: undefined }).finish();

/** "`id` is dead" at `incarnation`, as one unsealed datagram. */
function deathNotice(o: Outsider, id: string, addr: string, incarnation: bigint): Uint8Array {
  return datagram([
    {
      fromId: 'intruder',
      fromAddr: `${o.ip}:7000`,
      members: [
        { nodeId: id, addr, state: MemberState.MEMBER_STATE_DEAD, incarnation, reporter: '' },
      ],
      records: [],
      push: {},
    },
  ]);
}

async function memberIds(c: AgentClient): Promise<string[]> {
  return (await c.members()).filter((m) => m.state === 'alive').map((m) => m.nodeId);
}

(outsider ? describe : describe.skip)('secure-by-default cluster traffic', () => {
  const o = outsider!;
  const xdgA = mkdtempSync(join(tmpdir(), 'btoverlay-xdg-a-'));
  const xdgC = mkdtempSync(join(tmpdir(), 'btoverlay-xdg-c-'));
  const dataA = join(xdgA, 'btoverlay');
  let a: AgentProcess;
  let b: AgentProcess;
  let c: AgentProcess | undefined;
  let n: AgentProcess;
  let m: AgentProcess;
  let ca: AgentClient;
  let cb: AgentClient;
  let cn: AgentClient;

  beforeAll(async () => {
    // A: started as an operator would, with no key or data-dir flag.
    a = await startAgent([...(await open()), '--node-id', 'def-a', ...FAST], {
      bare: true,
      env: { XDG_DATA_HOME: xdgA },
    });
    [b, n] = await Promise.all([
      startAgent(
        ['--node-id', 'def-b', '--cluster-key', join(dataA, 'cluster.key'), '--bootstrap', a.addr],
        { host: '127.0.0.2' },
      ),
      startAgent([...(await open()), '--node-id', 'open-n', '--no-cluster-key', ...FAST]),
    ]);
    m = await startAgent(
      ['--node-id', 'open-m', '--no-cluster-key', '--bootstrap', n.addr, ...FAST],
      {
        host: '127.0.0.5',
      },
    );
    ca = connect(a.addr);
    cb = connect(b.addr);
    cn = connect(n.addr);
  }, 60_000);

  afterAll(async () => {
    for (const x of [ca, cb, cn]) x?.close();
    await Promise.all([a, b, c, n, m].map((x) => x?.stop()));
    o.close();
    rmSync(xdgA, { recursive: true, force: true });
    rmSync(xdgC, { recursive: true, force: true });
  });

  it('a default agent generates a 0600 cluster key in its 0700 data dir and says how to share it', async () => {
    const file = join(dataA, 'cluster.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dataA).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}$/m);
    const s = await ca.status();
    expect(s).toMatchObject({ clusterAuth: 'keyed' });
    const line = await a.waitForLog((l) => l.path === file);
    expect(line).toMatchObject({ fingerprint: s.clusterKeyId, created: true });
    expect(String(line.msg)).toContain('--cluster-key FILE');
    const text = await btctl(['status', '--node', a.addr]);
    expect(text.stdout).toMatch(new RegExp(`cluster\\s+keyed \\(key ${s.clusterKeyId}\\)`));
  });

  it('--no-cluster-key warns at start and btctl status says cluster: unauthenticated', async () => {
    const warn = await n.waitForLog((l) => l.cluster === 'unauthenticated');
    expect(warn.level).toBe(40);
    const text = await btctl(['status', '--node', n.addr]);
    expect(text.stdout).toMatch(/cluster\s+unauthenticated/);
  });

  it('an agent given the generated key file joins; one without it never does', async () => {
    expect(
      await eventually(async () => {
        const [fromA, fromB] = await Promise.all([memberIds(ca), memberIds(cb)]);
        return fromA.includes('def-b') && fromB.includes('def-a');
      }, 15_000),
    ).toBe(true);
    // C: a default agent of its own (its own generated key), told to join A.
    c = await startAgent(['--node-id', 'def-c', '--bootstrap', a.addr, ...FAST], {
      bare: true,
      host: '127.0.0.3',
      env: { XDG_DATA_HOME: xdgC },
    });
    const cc = connect(c.addr);
    try {
      const deadline = Date.now() + 6000;
      while (Date.now() < deadline) {
        const [fromA, fromB, fromC] = await Promise.all([
          memberIds(ca),
          memberIds(cb),
          memberIds(cc),
        ]);
        expect(fromA).not.toContain('def-c');
        expect(fromB).not.toContain('def-c');
        expect(fromC).toEqual(['def-c']);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect((await ca.status()).securityRefusals['cluster_auth.unknown_key']).toBeGreaterThan(0);
    } finally {
      cc.close();
    }
  }, 40_000);

  it('from another host: unsealed Gossip, Exchange and probe datagrams are refused and apply nothing', async () => {
    const ih = randomInfoHash();
    const gossip = await outsiderGrpc(
      o,
      a.port,
      '/btoverlay.v1.Overlay/Gossip',
      GossipRequest.encode({
        sender: 'intruder',
        sets: intrusion(o, ih, {}).records,
      }).finish(),
    );
    expect(gossip.status).toBe(UNAUTHENTICATED);
    const exchange = await outsiderGrpc(
      o,
      a.port,
      '/btoverlay.v1.Cluster/Exchange',
      datagram([intrusion(o, ih, { push: {} })]),
    );
    expect(exchange.status).toBe(UNAUTHENTICATED);
    const beforeUdp = (await ca.status()).securityRefusals;
    const udp = await outsiderUdp(o, a.port, [
      datagram([intrusion(o, ih, { ping: { seq: 1, target: 'def-a' } })]),
    ]);
    expect(udp.got).toEqual([]); // not even an ack
    expect(await ca.lookup(hex(ih))).toEqual([]);
    expect((await ca.members()).map((x) => x.nodeId)).not.toContain('intruder');
    const refused = (await ca.status()).securityRefusals;
    expect(refused['overlay_gossip.unauthenticated']).toBeGreaterThanOrEqual(1);
    expect(refused['cluster_auth.missing']).toBeGreaterThanOrEqual(1);
    // The refused datagram is inbound traffic: counted under its documented name.
    expect(refused['cluster_auth.missing']).toBeGreaterThan(beforeUdp['cluster_auth.missing'] ?? 0);
    expect(refused['cluster_auth_reply.missing'] ?? 0).toBe(
      beforeUdp['cluster_auth_reply.missing'] ?? 0,
    );
  });

  it('"X is dead, incarnation 2^53-1" changes nothing, keyed or not; unkeyed it is dropped and counted', async () => {
    expect(await eventually(async () => (await memberIds(cn)).includes('open-m'), 15_000)).toBe(
      true,
    );
    const before = (await cn.members()).find((x) => x.nodeId === 'open-m')!;
    const beforeB = (await ca.members()).find((x) => x.nodeId === 'def-b')!;
    const poison = BigInt(Number.MAX_SAFE_INTEGER);
    await outsiderUdp(o, a.port, [deathNotice(o, 'def-b', b.addr, poison)], 300);
    await outsiderUdp(o, n.port, [deathNotice(o, 'open-m', m.addr, poison)], 300);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await ca.members()).find((x) => x.nodeId === 'def-b')).toMatchObject({
      state: 'alive',
      incarnation: beforeB.incarnation,
    });
    const after = (await cn.members()).find((x) => x.nodeId === 'open-m')!;
    expect(after).toMatchObject({ state: 'alive', incarnation: before.incarnation });
    expect(
      (await cn.status()).securityRefusals['member_update.incarnation'],
    ).toBeGreaterThanOrEqual(1);
  });

  it('unkeyed, a claim at the cap is refuted within seconds: the member is alive again', async () => {
    const atCap = BigInt(maxIncarnation(Date.now()));
    await outsiderUdp(o, n.port, [deathNotice(o, 'open-m', m.addr, atCap)], 300);
    expect(
      await eventually(async () => {
        const x = (await cn.members()).find((y) => y.nodeId === 'open-m');
        return x?.state === 'alive' && BigInt(x.incarnation) > atCap;
      }, 15_000),
    ).toBe(true);
  }, 20_000);

  it('unkeyed, a probe datagram is answered at its source address, never at the from_addr inside it', async () => {
    const bystander = createSocket('udp4');
    const seen: Buffer[] = [];
    bystander.on('message', (d) => seen.push(d));
    await new Promise<void>((r) => bystander.bind(0, '127.0.0.1', r));
    try {
      const forged = datagram([
        {
          fromId: 'intruder',
          fromAddr: `127.0.0.1:${bystander.address().port}`,
          members: [],
          records: [],
          ping: { seq: 42, target: 'open-n' },
        },
      ]);
      const r = await outsiderUdp(o, n.port, [forged]);
      const acks = r.got.flatMap((g) => ExchangeRequest.decode(g.data).messages);
      expect(acks.some((x) => x.ack?.seq === 42 && x.ack.target === 'open-n')).toBe(true);
      await new Promise((res) => setTimeout(res, 300));
      expect(seen).toEqual([]);
    } finally {
      bystander.close();
    }
  });

  it('legacy writes from another host are dropped and counted, its lookups answered; loopback writes work', async () => {
    const ih = randomInfoHash();
    const t = Math.floor(Date.now() / 1000);
    const provider = (addr: string) =>
      `{"addr":"${addr}","peer_id":"-GO0001-abcdefghijkl","left":0,"last_seen":${t}}`;
    await outsiderLegacy(
      o,
      a.port,
      `{"type":"announce","info_hash":"${ih}","providers":[${provider(`${o.ip}:6881`)}]}\n`,
    );
    await outsiderLegacy(
      o,
      a.port,
      `{"type":"gossip","info_hash":"${ih}","providers":[${provider('198.18.201.1:6881')}]}\n`,
    );
    expect(await ca.lookup(hex(ih))).toEqual([]);
    const refused = (await ca.status()).securityRefusals;
    expect(refused['legacy_source.announce']).toBe(1);
    expect(refused['legacy_source.gossip']).toBe(1);
    // Loopback is a legacy source by default: its announce is applied...
    await legacyExchange(
      a.port,
      `{"type":"announce","info_hash":"${ih}","providers":[${provider('127.0.0.1:6881')}]}\n`,
    );
    expect(await eventually(async () => (await ca.lookup(hex(ih))).length === 1, 3000)).toBe(true);
    // ...and the outsider may look it up.
    const reply = await outsiderLegacy(o, a.port, `{"type":"lookup","info_hash":"${ih}"}\n`);
    expect(JSON.parse(reply)).toEqual([expect.objectContaining({ addr: '127.0.0.1:6881' })]);
  });

  it('a restarted default agent keeps its identity and its cluster key', async () => {
    const before = await ca.status();
    await a.stop();
    a = await startAgent([...(await open()), '--node-id', 'def-a', ...FAST], {
      bare: true,
      env: { XDG_DATA_HOME: xdgA },
    });
    ca.close();
    ca = connect(a.addr);
    const after = await ca.status();
    expect(after.publicKey).toBe(before.publicKey);
    expect(after.clusterKeyId).toBe(before.clusterKeyId);
    expect(await a.waitForLog((l) => l.path === join(dataA, 'cluster.key'))).toMatchObject({
      created: false,
    });
  }, 30_000);
});
