import { status } from '@grpc/grpc-js';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { join } from 'node:path';
import { AgentCallError, connect } from '../control/client.js';
import {
  btctl,
  eventually,
  randomInfoHash,
  ROOT,
  run,
  BTAGENT,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('btagent + btctl against a real agent', () => {
  let a: AgentProcess;
  beforeAll(async () => {
    a = await startAgent(['--ttl', '30s', '--node-id', 'agent-a']);
  });
  afterAll(async () => {
    await a.stop();
  });

  it('announces then looks up: newest first, cut to --limit, in table and JSON', async () => {
    const ih = randomInfoHash();
    for (const addr of ['10.0.0.1:6881', '10.0.0.2:6881', '10.0.0.3:6881']) {
      const r = await btctl([
        'announce',
        ih,
        '--addr',
        addr,
        '--peer-id',
        '-BT0001-abcdefghijkl',
        '--left',
        '7',
        '--node',
        a.addr,
      ]);
      expect(r).toMatchObject({ code: 0 });
      await new Promise((res) => setTimeout(res, 5)); // distinct last_seen
    }
    const json = await btctl(['lookup', ih, '--node', a.addr, '--json', '--limit', '2']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      info_hash: string;
      providers: { addr: string; left: number; peer_id: string; origin: string }[];
    };
    expect(parsed.info_hash).toBe(ih);
    expect(parsed.providers.map((p) => p.addr)).toEqual(['10.0.0.3:6881', '10.0.0.2:6881']);
    expect(parsed.providers[0]).toMatchObject({
      left: 7,
      peer_id: '-BT0001-abcdefghijkl',
      origin: 'agent-a',
    });
    const table = await btctl(['lookup', ih.toUpperCase(), '--node', a.addr]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ADDR\s+PEER ID\s+LEFT\s+AGE\s+ORIGIN$/);
    expect(table.stdout).toContain('10.0.0.1:6881');
  });

  it('withdraws a provider with a removal', async () => {
    const client = connect(a.addr);
    const ih = hex(randomInfoHash());
    await client.announce({ infoHash: ih, addr: '10.1.1.2:1' });
    await client.announce({ infoHash: ih, addr: '10.1.1.2:1', removed: true });
    expect(await client.lookup(ih)).toEqual([]);
    client.close();
  });

  it('reports health and status', async () => {
    const h = await btctl(['health', '--node', a.addr]);
    expect(h).toMatchObject({ code: 0, stdout: 'SERVING\n' });
    const s = await btctl(['status', '--node', a.addr, '--json']);
    expect(s.code).toBe(0);
    const st = JSON.parse(s.stdout) as Record<string, unknown>;
    expect(st).toMatchObject({ nodeId: 'agent-a', ttlMs: 30_000, listenAddr: a.addr });
    expect(typeof st.version).toBe('string');
  });

  it('answers bad input with INVALID_ARGUMENT naming the field', async () => {
    const client = connect(a.addr);
    const cases: [Parameters<typeof client.announce>[0], RegExp][] = [
      [{ infoHash: Buffer.alloc(19), addr: '10.0.0.1:1' }, /info_hash: must be 20 bytes/],
      [{ infoHash: Buffer.alloc(20), addr: 'nope' }, /provider\.addr/],
      [
        { infoHash: Buffer.alloc(20), addr: '10.0.0.1:1', peerId: Buffer.alloc(21) },
        /provider\.peer_id/,
      ],
      [{ infoHash: Buffer.alloc(20), addr: '10.0.0.1:1', left: 2n ** 60n }, /provider\.left/],
    ];
    for (const [input, message] of cases) {
      const err = await client.announce(input).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentCallError);
      expect((err as AgentCallError).code).toBe(status.INVALID_ARGUMENT);
      expect((err as AgentCallError).details).toMatch(message);
    }
    const err = await client.lookup(Buffer.alloc(33)).catch((e: unknown) => e);
    expect((err as AgentCallError).code).toBe(status.INVALID_ARGUMENT);
    client.close();
  });

  it('serves grpc reflection listing every service', async () => {
    const def = loadSync(
      join(ROOT, 'node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'),
      {},
    );
    type Stream = grpc.ClientDuplexStream<
      unknown,
      { listServicesResponse?: { service: { name: string }[] } }
    >;
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              a: string,
              c: grpc.ChannelCredentials,
            ) => grpc.Client & { ServerReflectionInfo(): Stream };
          };
        };
      };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(
      a.addr,
      grpc.credentials.createInsecure(),
    );
    const stream = client.ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      stream.on('data', (m: { listServicesResponse?: { service: { name: string }[] } }) =>
        resolve((m.listServicesResponse?.service ?? []).map((s) => s.name)),
      );
      stream.on('error', reject);
      stream.write({ listServices: '' });
    });
    stream.end();
    client.close();
    expect(names).toEqual(
      expect.arrayContaining([
        'btoverlay.v1.Overlay',
        'btoverlay.v1.Control',
        'grpc.health.v1.Health',
      ]),
    );
  });
});

describe('TTL expiry', () => {
  it('forgets providers once the TTL has passed', async () => {
    const a = await startAgent(['--ttl', '2s']);
    try {
      const client = connect(a.addr);
      const ih = hex(randomInfoHash());
      await client.announce({ infoHash: ih, addr: '10.1.1.1:1' });
      expect(await client.lookup(ih)).toHaveLength(1);
      expect(await eventually(async () => (await client.lookup(ih)).length === 0, 4000)).toBe(true);
      client.close();
    } finally {
      await a.stop();
    }
  });
});

describe('btctl usage errors and unreachable agents', () => {
  it.each([
    [['lookup', 'not-a-hash'], /<infohash>: "not-a-hash" is not an info hash/],
    [['lookup', 'aa'.repeat(20), '--limit', 'x'], /--limit: "x" is not a non-negative integer/],
    [['lookup', 'aa'.repeat(20), '--node', 'nohost'], /--node: "nohost" is not host:port/],
    [['lookup', 'aa'.repeat(20), '--timeout', 'later'], /--timeout/],
    [['announce', 'aa'.repeat(20)], /required option '--addr/],
    [['announce', 'aa'.repeat(20), '--addr', 'x:99999'], /--addr/],
    [['announce', 'aa'.repeat(20), '--addr', 'x:1', '--left', '-3'], /--left/],
    [['frobnicate'], /unknown command/],
    [['lookup'], /missing required argument/],
  ])('btctl %j exits 2 naming the problem', async (args, message) => {
    const r = await btctl(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('exits 1 naming the node when no agent answers', async () => {
    const r = await btctl(['health', '--node', '127.0.0.1:1', '--timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach agent at 127\.0\.0\.1:1/);
  });

  it('btagent refuses a bad flag with exit 2', async () => {
    const r = await run(BTAGENT, ['run', '--ttl', 'forever']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--ttl: "forever" is not a duration/);
  });
});

describe('two agents', () => {
  it('exchange records by gossip both ways', async () => {
    const a = await startAgent(['--node-id', 'a']);
    const b = await startAgent(['--node-id', 'b', '--bootstrap', a.addr]);
    const ca = connect(a.addr);
    const cb = connect(b.addr);
    try {
      const ih1 = hex(randomInfoHash());
      const ih2 = hex(randomInfoHash());
      await cb.announce({ infoHash: ih1, addr: '10.2.0.1:6881' });
      expect(await eventually(async () => (await ca.lookup(ih1)).length === 1, 5000)).toBe(true);
      // Pushes follow --bootstrap links: c, bootstrapped to both, reaches a and b.
      const c = await startAgent(['--node-id', 'c', '--bootstrap', `${a.addr},${b.addr}`]);
      const cc = connect(c.addr);
      await cc.announce({ infoHash: ih2, addr: '10.2.0.2:6881' });
      expect(
        await eventually(
          async () => (await ca.lookup(ih2)).length === 1 && (await cb.lookup(ih2)).length === 1,
        ),
      ).toBe(true);
      expect((await ca.lookup(ih2))[0].origin).toBe('c');
      cc.close();
      await c.stop();
    } finally {
      ca.close();
      cb.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('bounds', () => {
  it('answers RESOURCE_EXHAUSTED past --max-info-hashes and keeps serving', async () => {
    const a = await startAgent(['--max-info-hashes', '1']);
    const client = connect(a.addr);
    try {
      await client.announce({ infoHash: hex(randomInfoHash()), addr: '10.3.0.1:1' });
      const err = await client
        .announce({ infoHash: hex(randomInfoHash()), addr: '10.3.0.1:1' })
        .catch((e: unknown) => e);
      expect((err as AgentCallError).code).toBe(status.RESOURCE_EXHAUSTED);
      expect((err as AgentCallError).details).toMatch(/maximum of 1 info hashes/);
      expect(await client.health()).toBe('SERVING');
    } finally {
      client.close();
      await a.stop();
    }
  });
});

describe('shutdown', () => {
  it('SIGTERM: finishes, logs and exits 0 within 5 s', async () => {
    const a = await startAgent();
    const started = Date.now();
    const code = await a.stop(8000);
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(a.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });
});
