/**
 * The HTTP handler's fast path on real sockets: replies byte-identical to
 * node:http's, pipelined replies in order across a hand-over to node:http,
 * requests split across reads, Connection: close, node's 408, and a failing route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import type { FastReply } from './http1-reply.js';
import { HttpHandler, type HttpRoute } from './http-handler.js';

/** The same reply through both paths; the body says which path served it. */
function reply(via: string, query: string): FastReply {
  const body = Buffer.from(`${via}:${query}`);
  return {
    status: 200,
    fields: [
      ['content-type', 'text/plain'],
      ['content-length', String(body.length)],
      ['cache-control', 'no-store'],
    ],
    body,
  };
}

interface Harness {
  port: number;
  requests: { route: string; status: number }[];
  /** Resolves the delayed fast request with this query. */
  release: (query: string) => void;
  close: () => Promise<void>;
}

async function start(requestTimeoutMs = 10_000): Promise<Harness> {
  const requests: Harness['requests'] = [];
  const handler = new HttpHandler({
    requestTimeoutMs,
    maxHeaderBytes: 16 * 1024,
    onRequest: (route, status) => requests.push({ route, status }),
  });
  const waiting = new Map<string, () => void>();
  const node = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    const r = reply('node', url.slice(url.indexOf('?') + 1));
    res.writeHead(r.status, Object.fromEntries(r.fields));
    res.end(r.body);
  };
  const t: HttpRoute = Object.assign(
    (req: IncomingMessage, res: ServerResponse) => node(req, res),
    {
      fast: (query: string): FastReply | Promise<FastReply> => {
        if (query === 'throw') throw new Error('route bug');
        if (query.startsWith('slow')) {
          return new Promise<FastReply>((resolve) =>
            waiting.set(query, () => resolve(reply('fast', query))),
          );
        }
        return reply('fast', query);
      },
    },
  );
  handler.route('/t', t);
  handler.route('/n', node);
  const server: Server = createServer({ pauseOnConnect: true }, (s) => handler.handle(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    requests,
    release: (q) => waiting.get(q)?.(),
    close: () => {
      handler.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes `parts` (with `gapMs` between), reads until the server closes or `timeoutMs`. */
function exchange(
  port: number,
  parts: (string | Buffer)[],
  opts: { gapMs?: number; timeoutMs?: number; onData?: (text: string) => void } = {},
): Promise<{ text: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect(port, '127.0.0.1');
    let text = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 3000);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      opts.onData?.(text);
    });
    s.on('close', () => finish(true));
    s.on('error', () => undefined);
    s.once('connect', () => {
      void (async () => {
        for (const p of parts) {
          if (s.destroyed) return;
          s.write(p);
          if (opts.gapMs !== undefined) await new Promise((r) => setTimeout(r, opts.gapMs));
        }
      })();
    });
  });
}

const get = (target: string, extra = ''): string =>
  `GET ${target} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
/** Splits a stream of replies into [head without Date, body] pairs. */
function replies(text: string): { head: string; body: string }[] {
  const out: { head: string; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    const head = rest.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    out.push({
      head: head
        .split('\r\n')
        .filter((l) => !l.startsWith('Date: '))
        .join('\r\n'),
      body: rest.slice(end + 4, end + 4 + length),
    });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

describe('HTTP fast path', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await start();
  });
  afterEach(async () => {
    await h.close();
  });

  it("answers byte for byte as node:http does (Date aside), and reports the route's requests", async () => {
    const fast = await exchange(h.port, [get('/t?a=1', 'Connection: close\r\n')]);
    // An obs-text byte is legal for node but not simple: this one goes through node:http.
    const slow = await exchange(h.port, [get('/t?a=1', 'X-O: \x80\r\nConnection: close\r\n')]);
    const [f] = replies(fast.text);
    const [n] = replies(slow.text);
    expect(f.body).toBe('fast:a=1');
    expect(n.body).toBe('node:a=1');
    expect(f.head).toBe(n.head);
    expect(f.head).toBe(
      'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n' +
        'cache-control: no-store\r\nConnection: close',
    );
    expect(fast.closed && slow.closed).toBe(true);
    const keep = await exchange(h.port, [get('/t?k')], { timeoutMs: 300 });
    expect(replies(keep.text)[0].head).toMatch(/Connection: keep-alive\r\nKeep-Alive: timeout=5$/);
    expect(keep.closed).toBe(false);
    expect(h.requests).toEqual([
      { route: '/t', status: 200 },
      { route: '/t', status: 200 },
      { route: '/t', status: 200 },
    ]);
  });

  it('answers pipelined requests in order, handing the connection to node:http at the first other one', async () => {
    let seen = '';
    const pending = exchange(
      h.port,
      [
        get('/t?slow1') +
          get('/t?2') +
          get('/n?3') +
          get('/t?4') +
          get('/t?5', 'Connection: close\r\n'),
      ],
      { onData: (t) => (seen = t) },
    );
    await new Promise((r) => setTimeout(r, 200));
    // The second reply is ready but waits for the first.
    expect(seen).toBe('');
    h.release('slow1');
    const r = await pending;
    // After /n the connection belongs to node:http: it serves /t too from then on.
    expect(replies(r.text).map((x) => x.body)).toEqual([
      'fast:slow1',
      'fast:2',
      'node:3',
      'node:4',
      'node:5',
    ]);
    expect(r.closed).toBe(true);
  });

  it('serves a request split across many reads', async () => {
    const text = get('/t?split=1');
    const parts = [...text].map((c) => Buffer.from(c, 'latin1'));
    const r = await exchange(h.port, [...parts, get('/t?x', 'Connection: close\r\n')], {
      gapMs: 2,
    });
    expect(replies(r.text).map((x) => x.body)).toEqual(['fast:split=1', 'fast:x']);
  });

  it('ignores what follows a Connection: close request and closes after the reply', async () => {
    const r = await exchange(h.port, [get('/t?1', 'Connection: close\r\n') + get('/t?2')]);
    expect(replies(r.text).map((x) => x.body)).toEqual(['fast:1']);
    expect(r.closed).toBe(true);
  });

  it('answers 500 and closes when the route fails', async () => {
    const r = await exchange(h.port, [get('/t?throw') + get('/t?after')]);
    expect(r.text).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
    expect(r.text).toContain('internal error: route bug');
    expect(r.closed).toBe(true);
    expect(h.requests).toEqual([{ route: '/t', status: 500 }]);
  });
});

describe('HTTP fast path bounds', () => {
  it("cuts a head that is still arriving after the request timeout with node's 408", async () => {
    const h = await start(300);
    try {
      const parts = [
        'GET /t?x HTTP/1.1\r\n',
        ...Array.from({ length: 20 }, (_, i) => `X-${i}: y\r\n`),
      ];
      const r = await exchange(h.port, parts, { gapMs: 100, timeoutMs: 4000 });
      expect(r.text).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
      expect(r.closed).toBe(true);
      expect(r.ms).toBeLessThan(2000);
    } finally {
      await h.close();
    }
  });
});
