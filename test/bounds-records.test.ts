import { status } from '@grpc/grpc-js';
import { AgentCallError, connect, type AgentClient } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';

/**
 * The Store's global record budget (--max-records, issue 12 item 5): at the
 * budget a new record is refused from every entry point — Announce with
 * RESOURCE_EXHAUSTED naming the flag, the tracker with a failure reason, gossip
 * silently — and counted, while everything already held stays.
 */

const MAX = 5;

/** A series of GET /metrics, summed over the lines containing `labels`. */
async function metric(port: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('--max-records', () => {
  let a: AgentProcess;
  let b: AgentProcess;
  let ca: AgentClient;
  const held = Array.from({ length: MAX }, () => Buffer.from(randomInfoHash(), 'hex'));

  beforeAll(async () => {
    a = await startAgent(['--node-id', 'a', '--max-records', String(MAX)]);
    b = await startAgent(['--node-id', 'b', '--bootstrap', a.addr], { host: '127.0.0.2' });
    ca = connect(a.addr);
  }, 30_000);

  afterAll(async () => {
    ca?.close();
    await Promise.all([a, b].map((x) => x?.stop()));
  });

  it('refuses a new record past the budget with RESOURCE_EXHAUSTED naming the flag, keeping the rest', async () => {
    for (const ih of held) await ca.announce({ infoHash: ih, addr: '127.0.0.1:6881' });
    const err = await ca
      .announce({ infoHash: Buffer.from(randomInfoHash(), 'hex'), addr: '127.0.0.1:6881' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentCallError);
    expect((err as AgentCallError).code).toBe(status.RESOURCE_EXHAUSTED);
    expect((err as AgentCallError).details).toContain('--max-records');
    // A second provider of a held info hash is a new record too.
    await expect(ca.announce({ infoHash: held[0]!, addr: '127.0.0.1:6882' })).rejects.toThrow(
      /--max-records/,
    );
    expect(await metric(a.port, 'btoverlay_store_refused_total', 'record_limit')).toBe(2);
    // Nothing held was lost, and held records can still be refreshed.
    for (const ih of held) {
      expect((await ca.lookup(ih)).map((p) => p.addr)).toEqual(['127.0.0.1:6881']);
    }
    await ca.announce({ infoHash: held[1]!, addr: '127.0.0.1:6881' });
  });

  it('answers a tracker announce past the budget with a failure reason', async () => {
    const pct = (buf: Buffer): string =>
      [...buf].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');
    const ih = Buffer.from(randomInfoHash(), 'hex');
    const res = await fetch(
      `http://${a.addr}/announce?info_hash=${pct(ih)}&peer_id=${pct(Buffer.alloc(20, 0x41))}` +
        '&port=6881&uploaded=0&downloaded=0&left=0&compact=1',
    );
    const body = await res.text();
    expect(body).toMatch(/failure reason/);
    expect(body).toContain('--max-records');
    expect(await metric(a.port, 'btoverlay_store_refused_total', 'record_limit')).toBe(3);
  });

  it('refuses gossiped records past the budget and counts them, keeping the rest', async () => {
    const cb = connect(b.addr);
    try {
      const fresh = Buffer.from(randomInfoHash(), 'hex');
      await cb.announce({ infoHash: fresh, addr: '127.0.0.2:6881' });
      expect(
        await eventually(
          async () =>
            (await metric(a.port, 'btoverlay_store_merges_total', 'outcome="record_limit"')) > 0 &&
            (await metric(a.port, 'btoverlay_store_merges_total', 'source="cluster"')) > 0,
          10_000,
        ),
      ).toBe(true);
      expect(
        await metric(
          a.port,
          'btoverlay_store_merges_total',
          'source="cluster",outcome="record_limit"',
        ),
      ).toBeGreaterThan(0);
      expect(await ca.lookup(fresh)).toEqual([]);
      for (const ih of held) expect(await ca.lookup(ih)).toHaveLength(1);
    } finally {
      cb.close();
    }
  });
});
