import type { Outsider } from './outsider.js';

/**
 * Raw network calls made from inside an outsider host (outsider.ts): the test
 * process encodes the bytes, a small node script (builtins only) in the
 * namespace sends them and prints what came back as JSON. What the agent sees
 * is then exactly another host's traffic.
 */

/** Sends one gRPC unary request (`body`: the serialized message) over plaintext HTTP/2. */
const GRPC_SCRIPT = `
const h2 = require('node:http2');
const [host, port, path, hex] = process.argv.slice(1);
const s = h2.connect('http://' + host + ':' + port);
s.on('error', (e) => { console.log(JSON.stringify({ status: -1, message: String(e), body: '' })); process.exit(0); });
const st = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
const out = []; let status = -1; let message = '';
const take = (h) => { if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']); if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message'])); };
st.on('response', take); st.on('trailers', take); st.on('data', (c) => out.push(c));
st.on('error', () => undefined);
st.on('close', () => { s.close(); const all = Buffer.concat(out); console.log(JSON.stringify({ status, message, body: all.length >= 5 ? all.subarray(5).toString('hex') : '' })); });
const req = Buffer.from(hex, 'hex'); const head = Buffer.alloc(5); head.writeUInt32BE(req.length, 1);
st.end(Buffer.concat([head, req]));
`;

/** Sends datagrams from one socket, then prints every datagram received within `waitMs`. */
const UDP_SCRIPT = `
const dgram = require('node:dgram');
const [host, port, waitMs, ...hexes] = process.argv.slice(1);
const sock = dgram.createSocket('udp4');
const got = [];
sock.on('message', (b, r) => got.push({ from: r.address + ':' + r.port, hex: b.toString('hex') }));
sock.bind(0, () => {
  for (const h of hexes) sock.send(Buffer.from(h, 'hex'), Number(port), host);
  setTimeout(() => { console.log(JSON.stringify({ local: sock.address().port, got })); sock.close(); }, Number(waitMs));
});
`;

/** One legacy JSON exchange: writes the line, prints what came back before the close. */
const TCP_SCRIPT = `
const net = require('node:net');
const [host, port, line] = process.argv.slice(1);
const s = net.connect(Number(port), host);
let out = '';
s.on('data', (d) => (out += d)); s.on('error', () => undefined);
s.on('close', () => console.log(JSON.stringify({ reply: out })));
s.setTimeout(3000, () => s.destroy());
s.write(line);
`;

async function runJson<T>(o: Outsider, script: string, args: string[]): Promise<T> {
  const r = await o.run(process.execPath, ['-e', script, ...args], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`outsider script failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

/** A gRPC unary call from the outsider: grpc-status, message and the reply body. */
export function outsiderGrpc(
  o: Outsider,
  port: number,
  path: string,
  request: Uint8Array,
): Promise<{ status: number; message: string; body: Buffer }> {
  return runJson<{ status: number; message: string; body: string }>(o, GRPC_SCRIPT, [
    o.hostIp,
    String(port),
    path,
    Buffer.from(request).toString('hex'),
  ]).then((r) => ({ ...r, body: Buffer.from(r.body, 'hex') }));
}

/** Datagrams from the outsider to the agent's port; what came back within `waitMs`. */
export function outsiderUdp(
  o: Outsider,
  port: number,
  datagrams: Uint8Array[],
  waitMs = 1500,
): Promise<{ local: number; got: { from: string; data: Buffer }[] }> {
  return runJson<{ local: number; got: { from: string; hex: string }[] }>(o, UDP_SCRIPT, [
    o.hostIp,
    String(port),
    String(waitMs),
    ...datagrams.map((d) => Buffer.from(d).toString('hex')),
  ]).then((r) => ({
    local: r.local,
    got: r.got.map((g) => ({ from: g.from, data: Buffer.from(g.hex, 'hex') })),
  }));
}

/** A legacy JSON message from the outsider; resolves with the reply text ('' for none). */
export async function outsiderLegacy(o: Outsider, port: number, line: string): Promise<string> {
  return (await runJson<{ reply: string }>(o, TCP_SCRIPT, [o.hostIp, String(port), line])).reply;
}
