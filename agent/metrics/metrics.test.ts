import { register as globalRegistry } from 'prom-client';
import { ClusterMessage } from '../../generated/btoverlay/v1/cluster.js';
import { clusterTraffic } from './cluster-traffic.js';
import { createAgentMetrics } from './metrics.js';
import { TorrentMeter } from './torrents.js';
import { infoHashKey } from '../store/infohash.js';
import { Store } from '../store/store.js';

/** The value of one sample line `name{labels} value` in an exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createAgentMetrics', () => {
  it('gives each agent its own registry, never the global default one', async () => {
    const a = createAgentMetrics({ version: 'test', defaultMetrics: false });
    const b = createAgentMetrics({ version: 'test', defaultMetrics: false });
    a.connection('grpc');
    a.connection('grpc');
    b.connection('http');
    const ta = await a.render();
    const tb = await b.render();
    expect(sample(ta, 'btoverlay_connections_total{protocol="grpc"}')).toBe(2);
    expect(sample(tb, 'btoverlay_connections_total{protocol="grpc"}')).toBeUndefined();
    expect(sample(tb, 'btoverlay_connections_total{protocol="http"}')).toBe(1);
    expect(await globalRegistry.metrics()).not.toContain('btoverlay_');
  });

  it('mirrors counters kept by the agent parts at scrape time, by label', async () => {
    const m = createAgentMetrics({ version: 'test', defaultMetrics: false });
    const outcomes = new Map([
      ['local applied', 3],
      ['cluster info_hash_limit', 2],
    ]);
    m.setSources({
      mergeOutcomes: () => outcomes,
      members: () => [{ state: 'alive' }, { state: 'alive' }, { state: 'dead' }],
    });
    let t = await m.render();
    expect(sample(t, 'btoverlay_store_merges_total{source="local",outcome="applied"}')).toBe(3);
    expect(
      sample(t, 'btoverlay_store_merges_total{source="cluster",outcome="info_hash_limit"}'),
    ).toBe(2);
    expect(sample(t, 'btoverlay_members{state="alive"}')).toBe(2);
    expect(sample(t, 'btoverlay_members{state="dead"}')).toBe(1);
    expect(sample(t, 'btoverlay_members{state="suspect"}')).toBe(0);
    outcomes.set('local applied', 10);
    t = await m.render();
    // Set from the source on each scrape, not added up across scrapes.
    expect(sample(t, 'btoverlay_store_merges_total{source="local",outcome="applied"}')).toBe(10);
  });

  it('counts tracker announces by event and result', async () => {
    const m = createAgentMetrics({ version: 'test', defaultMetrics: false });
    m.tracker.announce('started', 'ok');
    m.tracker.announce('started', 'ok');
    m.tracker.announce('none', 'bad_request');
    const t = await m.render();
    expect(sample(t, 'btoverlay_tracker_announces_total{event="started",result="ok"}')).toBe(2);
    expect(sample(t, 'btoverlay_tracker_announces_total{event="none",result="bad_request"}')).toBe(
      1,
    );
  });
});

describe('clusterTraffic', () => {
  const base = { fromId: 'a', fromAddr: '127.0.0.1:1', members: [], records: [] };
  it('groups messages by the body kind and counts their encoded bytes', () => {
    const ping = ClusterMessage.fromPartial({ ...base, ping: { seq: 1, target: 'b' } });
    const push = ClusterMessage.fromPartial({ ...base, push: {} });
    const out = clusterTraffic([ping, ping, push]);
    const pingBytes = ClusterMessage.encode(ping).finish().byteLength;
    expect(out).toEqual(
      expect.arrayContaining([
        { kind: 'ping', messages: 2, bytes: 2 * pingBytes },
        { kind: 'push', messages: 1, bytes: ClusterMessage.encode(push).finish().byteLength },
      ]),
    );
    expect(out).toHaveLength(2);
    expect(clusterTraffic([ClusterMessage.fromPartial(base)])[0]?.kind).toBe('unknown');
  });
});

describe('TorrentMeter', () => {
  const t = (id: string, state: string, downloaded: number, uploaded: number, peers: number) => ({
    id,
    state,
    downloaded,
    uploaded,
    peers,
  });

  it('sums torrents and keeps the bytes of restarted and removed ones', () => {
    const meter = new TorrentMeter();
    expect(
      meter.totals([t('a', 'downloading', 100, 5, 3), t('b', 'seeding', 0, 50, 2)]),
    ).toMatchObject({
      downloaded: 100,
      uploaded: 55,
      peers: 5,
    });
    // a's session restarted (counts from 0 again): its 100 bytes stay counted.
    let now = meter.totals([t('a', 'downloading', 30, 0, 1), t('b', 'seeding', 0, 80, 2)]);
    expect(now).toMatchObject({ downloaded: 130, uploaded: 85, peers: 3 });
    // b removed: its 80 uploaded bytes stay counted.
    now = meter.totals([t('a', 'seeding', 40, 0, 0)]);
    expect(now).toMatchObject({ downloaded: 140, uploaded: 85, peers: 0 });
    expect([...now.states]).toEqual([['seeding', 1]]);
  });

  it('exports the totals through the registry', async () => {
    const m = createAgentMetrics({ version: 'test', defaultMetrics: false });
    let list = [t('a', 'downloading', 1000, 10, 4)];
    m.setSources({ torrents: () => list });
    let text = await m.render();
    expect(sample(text, 'btoverlay_torrent_payload_bytes_total{direction="down"}')).toBe(1000);
    expect(sample(text, 'btoverlay_torrent_peers')).toBe(4);
    expect(sample(text, 'btoverlay_torrents{state="downloading"}')).toBe(1);
    list = [];
    await new Promise((r) => setImmediate(r));
    text = await m.render();
    expect(sample(text, 'btoverlay_torrent_payload_bytes_total{direction="down"}')).toBe(1000);
    expect(sample(text, 'btoverlay_torrent_peers')).toBe(0);
    expect(sample(text, 'btoverlay_torrents{state="downloading"}')).toBeUndefined();
  });
});

describe('a scrape with a million records', () => {
  it('costs what it costs with none: the store gauges read O(1) counts', async () => {
    const now = Date.now();
    const big = new Store({ maxRecords: 2_000_000 });
    // 1 000 info hashes of 1 000 providers each.
    const ih = Buffer.alloc(20);
    for (let h = 0; h < 1000; h++) {
      ih.writeUInt32BE(h, 16);
      const key = infoHashKey(ih);
      for (let i = 0; i < 1000; i++) {
        big.merge(
          key,
          {
            addr: `198.18.${h >> 2}.${(h & 3) * 64 + (i >> 4)}:${1024 + (i & 15)}`,
            peerId: '',
            left: 0,
            lastSeen: now,
            origin: 'o',
            removed: false,
          },
          now,
        );
      }
    }
    const scrapeMs = async (store: Store): Promise<number> => {
      const m = createAgentMetrics({ version: 'test', defaultMetrics: false });
      m.setSources({ storeStats: () => store.stats(now), storeCounters: () => store.counters });
      await m.render(); // warm
      const t = performance.now();
      for (let i = 0; i < 20; i++) await m.render();
      return (performance.now() - t) / 20;
    };
    const empty = await scrapeMs(new Store());
    const full = await scrapeMs(big);
    expect(sample(await renderWith(big, now), 'btoverlay_store_records{kind="provider"}')).toBe(
      1_000_000,
    );
    // A scan of the records cost ~70 ms a scrape at 300 k; here the two must be alike.
    expect(full).toBeLessThan(empty * 3 + 5);
  }, 120_000);
});

async function renderWith(store: Store, now: number): Promise<string> {
  const m = createAgentMetrics({ version: 'test', defaultMetrics: false });
  m.setSources({ storeStats: () => store.stats(now) });
  return m.render();
}
