import { connect, type Socket } from 'node:net';
import { ConnectionTable } from './connection-limit.js';
import { PortListener, type PortRejectReason } from './port-listener.js';
import { HTTP2_PREFACE } from './sniff.js';

/** A listener on loopback whose rejects are recorded; http connections are held open. */
async function listener(
  o: { maxConnections?: number; maxPerSource?: number; sniffTimeoutMs?: number } = {},
): Promise<{ l: PortListener; port: number; rejects: PortRejectReason[]; taken: Socket[] }> {
  const rejects: PortRejectReason[] = [];
  const taken: Socket[] = [];
  // A handler that reads (and drops) what comes, as the real ones do, so a close is seen.
  const take = (s: Socket): void => {
    taken.push(s);
    s.resume();
  };
  const l = new PortListener({
    host: '127.0.0.1',
    port: 0,
    sniffTimeoutMs: o.sniffTimeoutMs ?? 2000,
    maxConnections: o.maxConnections ?? 100,
    perSource:
      o.maxPerSource === undefined
        ? undefined
        : new ConnectionTable({ maxPerSource: o.maxPerSource }),
    handlers: { http: take, grpc: take },
    onReject: (r) => rejects.push(r),
  });
  const { port } = await l.listen();
  open.push(l);
  return { l, port, rejects, taken };
}

/** Listeners a test started; closed after it. */
const open: PortListener[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) {
    l.destroyAll();
    await l.stopAccepting();
  }
});

/** Connects and sends `bytes`; resolves once the socket is closed by the far end (or `ms` pass). */
function closedWithin(port: number, bytes: Buffer | string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, ms);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const until = async (fn: () => boolean): Promise<void> => {
  while (!fn()) await new Promise((r) => setTimeout(r, 5));
};

describe('PortListener bounds (real sockets on loopback)', () => {
  it('closes a source past its cap at accept, shared by every protocol, and counts it', async () => {
    const { port, rejects, taken } = await listener({ maxPerSource: 2 });
    const held = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    held[0]!.write('GET / HTTP/1.1\r\n');
    held[1]!.write(HTTP2_PREFACE);
    await until(() => taken.length === 2);
    expect(await closedWithin(port, 'GET / HTTP/1.1\r\n', 1000)).toBe(true);
    expect(rejects).toEqual(['per_source_cap']);
    // Room comes back when one of them closes.
    held[0]!.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await closedWithin(port, 'GET / HTTP/1.1\r\n', 300)).toBe(false);
    held[1]!.destroy();
  });

  it('closes a connection stuck inside the HTTP/2 preface at the first-bytes deadline', async () => {
    const { port, rejects, taken } = await listener({ sniffTimeoutMs: 100 });
    expect(await closedWithin(port, HTTP2_PREFACE.subarray(0, 16), 2000)).toBe(true);
    expect(await closedWithin(port, '', 2000)).toBe(true);
    expect(rejects).toEqual(['sniff_timeout', 'sniff_timeout']);
    expect(taken).toHaveLength(0);
  });

  it('counts connections dropped past the total', async () => {
    const { port, rejects, taken } = await listener({ maxConnections: 1 });
    const first = connect(port, '127.0.0.1');
    first.write('GET / HTTP/1.1\r\n');
    await until(() => taken.length === 1);
    expect(await closedWithin(port, 'GET / HTTP/1.1\r\n', 1000)).toBe(true);
    expect(rejects).toEqual(['max_connections']);
    first.destroy();
  });
});
