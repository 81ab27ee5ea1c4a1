/**
 * GET /metrics on real agents: scraped with a raw HTTP/1.1 request on the agent
 * port, parsed as the Prometheus text format (0.0.4) by a strict parser written
 * from the format's rules, and checked to move with what the agents did: gRPC
 * announces, lookups and a bad request, legacy good and bad input, gossip between
 * two agents, an unknown protocol on the port.
 */
import { connect as tcpConnect } from 'node:net';
import { connect, type AgentClient } from '../control/client.js';
import {
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';

/** One sample: metric name, labels, value. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A parsed exposition: samples plus each family's TYPE. */
interface Exposition {
  readonly samples: Sample[];
  readonly types: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The text format's sample value: a float, or NaN / +Inf / -Inf. Prometheus reads
 * values with Go's strconv.ParseFloat, which takes these words in any case
 * (prom-client writes NaN as "Nan"), so this parser does too.
 */
function parseValue(text: string, line: string): number {
  const word = text.toLowerCase();
  if (word === 'nan') return NaN;
  if (word === '+inf' || word === 'inf') return Infinity;
  if (word === '-inf') return -Infinity;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) {
    throw new Error(`bad value "${text}" in: ${line}`);
  }
  return Number(text);
}

/**
 * Parses the text format strictly: every line is a comment (HELP/TYPE checked),
 * or `name{label="value",...} value [timestamp]`; label values use only the
 * format's escapes; every sample belongs to a family with a TYPE line before it.
 */
function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (m === null) continue; // other comments are allowed
      if (!NAME.test(m[2]!)) throw new Error(`bad metric name in: ${line}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3]!)) {
          throw new Error(`bad type in: ${line}`);
        }
        if (types.has(m[2]!)) throw new Error(`TYPE given twice for ${m[2]}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    let i = 0;
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
    const name = line.slice(0, i);
    if (!NAME.test(name)) throw new Error(`bad sample name in: ${line}`);
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i);
        const label = line.slice(i, eq);
        if (!LABEL_NAME.test(label)) throw new Error(`bad label name in: ${line}`);
        if (line[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
        let j = eq + 2;
        let value = '';
        for (;;) {
          const c = line[j];
          if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
          if (c === '"') break;
          if (c === '\\') {
            const e = line[j + 1];
            if (e === 'n') value += '\n';
            else if (e === '\\' || e === '"') value += e;
            else throw new Error(`bad escape in: ${line}`);
            j += 2;
          } else {
            value += c;
            j++;
          }
        }
        if (label in labels) throw new Error(`label ${label} twice in: ${line}`);
        labels[label] = value;
        i = j + 1;
        if (line[i] === ',') i++;
        else if (line[i] !== '}') throw new Error(`bad label list in: ${line}`);
      }
      i++;
    }
    const rest = line.slice(i).trim().split(' ');
    if (line[i] !== ' ' || rest.length < 1 || rest.length > 2) {
      throw new Error(`bad sample line: ${line}`);
    }
    const family = [...types.keys()].find(
      (f) => name === f || (name.startsWith(`${f}_`) && /_(bucket|sum|count)$/.test(name)),
    );
    if (family === undefined) throw new Error(`sample before its TYPE: ${line}`);
    samples.push({ name, labels, value: parseValue(rest[0]!, line) });
  }
  return { samples, types };
}

/** Sums the samples of `name` whose labels include `match`. */
function value(e: Exposition, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of e.samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** What a raw HTTP/1.1 exchange returned. */
interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Sends `request` as written on a fresh TCP connection; reads until the server closes. */
function rawHttp(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no complete HTTP response within 5 s'));
    }, 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const end = raw.indexOf('\r\n\r\n');
      const [statusLine = '', ...headerLines] = raw.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const h of headerLines) {
        const colon = h.indexOf(':');
        headers[h.slice(0, colon).toLowerCase()] = h.slice(colon + 1).trim();
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0),
        headers,
        body: raw.slice(end + 4),
      });
    });
    socket.write(request);
  });
}

async function scrape(port: number): Promise<Exposition> {
  const res = await rawHttp(
    port,
    'GET /metrics HTTP/1.1\r\nHost: agent\r\nAccept: text/plain\r\nConnection: close\r\n\r\n',
  );
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  return parseExposition(res.body);
}

/** Sends raw bytes on a fresh connection and waits for the agent to close it. */
function sendRaw(port: number, data: string): Promise<void> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.end(data));
    socket.resume();
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
}

function hexBytes(hex: string): Uint8Array {
  return Buffer.from(hex, 'hex');
}

describe('GET /metrics on a real agent', () => {
  let a: AgentProcess;
  let b: AgentProcess;
  let ca: AgentClient;

  beforeAll(async () => {
    a = await startAgent(['--gossip-interval', '50ms']);
    b = await startAgent(['--gossip-interval', '50ms', '--bootstrap', a.addr]);
    ca = connect(a.addr);
  });

  afterAll(async () => {
    ca?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('exports the documented families with Prometheus names and types', async () => {
    const e = await scrape(a.port);
    for (const [name, type] of e.types) {
      if (name.startsWith('btoverlay_')) {
        // Conventions: counters end in _total; no counter-looking gauge names.
        if (type === 'counter') expect(name).toMatch(/_total$/);
        else expect(name).not.toMatch(/_total$/);
      }
    }
    const expected: Record<string, string> = {
      btoverlay_build_info: 'gauge',
      btoverlay_store_info_hashes: 'gauge',
      btoverlay_store_records: 'gauge',
      btoverlay_store_merges_total: 'counter',
      btoverlay_store_refused_total: 'counter',
      btoverlay_members: 'gauge',
      btoverlay_gossip_messages_total: 'counter',
      btoverlay_gossip_bytes_total: 'counter',
      btoverlay_grpc_server_handling_seconds: 'histogram',
      btoverlay_http_request_duration_seconds: 'histogram',
      btoverlay_connections_total: 'counter',
      btoverlay_connections_rejected_total: 'counter',
      btoverlay_legacy_connections: 'gauge',
      btoverlay_legacy_messages_total: 'counter',
      btoverlay_legacy_rejects_total: 'counter',
      btoverlay_tracker_announces_total: 'counter',
      btoverlay_torrent_payload_bytes_total: 'counter',
      btoverlay_torrent_peers: 'gauge',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
    };
    for (const [name, type] of Object.entries(expected))
      expect([name, e.types.get(name)]).toEqual([name, type]);
  });

  it('moves with announces, lookups, bad requests, legacy input and gossip', async () => {
    const before = await scrape(a.port);
    const beforeB = await scrape(b.port);

    // Both agents see each other alive.
    expect(
      await eventually(
        async () => value(await scrape(a.port), 'btoverlay_members', { state: 'alive' }) === 2,
        5000,
        100,
      ),
    ).toBe(true);

    // gRPC: 3 announces (2 info hashes), 2 lookups, 1 INVALID_ARGUMENT.
    const ih1 = randomInfoHash();
    const ih2 = randomInfoHash();
    for (const [ih, port] of [
      [ih1, 6881],
      [ih1, 6882],
      [ih2, 6883],
    ] as const) {
      await ca.announce({
        infoHash: hexBytes(ih),
        addr: `127.0.0.1:${port}`,
        peerId: Buffer.from('-BT0001-abcdefghijkl'),
        left: 0n,
      });
    }
    expect(await ca.lookup(hexBytes(ih1))).toHaveLength(2);
    await ca.lookup(hexBytes(ih2));
    await expect(ca.lookup(new Uint8Array(7))).rejects.toThrow(/INVALID_ARGUMENT/);

    // Legacy: one good announce, one unknown type, one non-JSON; one unknown protocol.
    const ih3 = randomInfoHash();
    const legacyIh = ih3
      .match(/../g)!
      .map((x) => `%${x.toUpperCase()}`)
      .join('');
    await sendRaw(
      a.port,
      JSON.stringify({
        type: 'announce',
        info_hash: legacyIh,
        providers: [
          { addr: '127.0.0.1:7001', peer_id: '-GO0001-abcdefghijkl', left: 0, last_seen: 0 },
        ],
      }) + '\n',
    );
    await sendRaw(a.port, '{"type":"bogus"}\n');
    await sendRaw(a.port, '{"type":"lookup",}\n');
    await sendRaw(a.port, '\x00\x01\x02\x03\x04\x05\x06\x07\x08');

    // B learns the records by gossip.
    expect(
      await eventually(
        async () =>
          value(await scrape(b.port), 'btoverlay_store_records', { kind: 'provider' }) >= 4,
        5000,
        100,
      ),
    ).toBe(true);

    const after = await scrape(a.port);
    const afterB = await scrape(b.port);
    const delta = (n: string, l: Record<string, string> = {}): number =>
      value(after, n, l) - value(before, n, l);
    const deltaB = (n: string, l: Record<string, string> = {}): number =>
      value(afterB, n, l) - value(beforeB, n, l);

    // Store: 3 info hashes and 4 providers more; local and legacy merges applied.
    expect(delta('btoverlay_store_info_hashes')).toBe(3);
    expect(delta('btoverlay_store_records', { kind: 'provider' })).toBe(4);
    expect(delta('btoverlay_store_merges_total', { source: 'local', outcome: 'applied' })).toBe(3);
    expect(delta('btoverlay_store_merges_total', { source: 'legacy', outcome: 'applied' })).toBe(1);
    expect(
      deltaB('btoverlay_store_merges_total', { source: 'cluster', outcome: 'applied' }),
    ).toBeGreaterThanOrEqual(4);

    // gRPC histogram: counts by method and code.
    const rpc = 'btoverlay_grpc_server_handling_seconds_count';
    expect(delta(rpc, { service: 'btoverlay.v1.Overlay', method: 'Announce', code: 'OK' })).toBe(3);
    expect(delta(rpc, { service: 'btoverlay.v1.Overlay', method: 'Lookup', code: 'OK' })).toBe(2);
    expect(
      delta(rpc, { service: 'btoverlay.v1.Overlay', method: 'Lookup', code: 'INVALID_ARGUMENT' }),
    ).toBe(1);
    const bucketInf = after.samples.find(
      (s) =>
        s.name === 'btoverlay_grpc_server_handling_seconds_bucket' &&
        s.labels.method === 'Announce' &&
        s.labels.le === '+Inf',
    );
    expect(bucketInf?.value).toBe(value(after, rpc, { method: 'Announce', code: 'OK' }));

    // Legacy: messages by type, rejects by reason, the unknown protocol at the port.
    expect(delta('btoverlay_legacy_messages_total', { type: 'announce' })).toBe(1);
    expect(delta('btoverlay_legacy_rejects_total', { reason: 'unknown_type' })).toBe(1);
    expect(delta('btoverlay_legacy_rejects_total', { reason: 'invalid_json' })).toBe(1);
    expect(delta('btoverlay_connections_total', { protocol: 'legacy' })).toBe(3);
    expect(delta('btoverlay_connections_rejected_total', { reason: 'unknown_protocol' })).toBe(1);

    // Gossip: A pushed records to B; both directions counted with bytes.
    expect(delta('btoverlay_gossip_messages_total', { direction: 'out' })).toBeGreaterThan(0);
    expect(deltaB('btoverlay_gossip_messages_total', { direction: 'in' })).toBeGreaterThan(0);
    expect(delta('btoverlay_gossip_bytes_total', { direction: 'out' })).toBeGreaterThan(
      delta('btoverlay_gossip_messages_total', { direction: 'out' }),
    );
    const kinds = after.samples
      .filter((s) => s.name === 'btoverlay_gossip_messages_total')
      .map((s) => s.labels.kind);
    expect(kinds.length).toBeGreaterThan(0);
    for (const k of kinds) expect(['ping', 'ack', 'ping_req', 'push', 'sync']).toContain(k);

    // HTTP: our own scrapes are counted under their route.
    expect(
      delta('btoverlay_http_request_duration_seconds_count', { route: '/metrics', code: '200' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('answers other methods with 405 and unknown paths with 404, counted as route "other"', async () => {
    const post = await rawHttp(
      a.port,
      'POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await rawHttp(
      a.port,
      'HEAD /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const before = await scrape(a.port);
    const missing = await rawHttp(
      a.port,
      `GET /nothing-${randomInfoHash()} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    expect(missing.status).toBe(404);
    const after = await scrape(a.port);
    const name = 'btoverlay_http_request_duration_seconds_count';
    expect(
      value(after, name, { route: 'other', code: '404' }) -
        value(before, name, { route: 'other', code: '404' }),
    ).toBe(1);
    // The raw path never becomes a label value.
    expect(
      after.samples.some((s) => Object.values(s.labels).some((v) => v.startsWith('/nothing'))),
    ).toBe(false);
  });
});
