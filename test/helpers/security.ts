import { credentials, Metadata } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ClusterClient,
  type ExchangeRequest,
  type ExchangeResponse,
} from '../../generated/btoverlay/v1/cluster.js';

/** A fresh temporary directory (keys and certificates never live in the repository). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `btoverlay-${prefix}-`));
}

/** Writes a key file (one key per line) and returns its path. */
export function writeKeyFile(dir: string, name: string, keys: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `# test cluster keys\n${keys.join('\n')}\n`, { mode: 0o600 });
  return path;
}

/** A key file with one fresh random cluster key (`openssl rand -hex 32`) in `dir`. */
export function randomClusterKeyFile(dir: string): string {
  const key = execFileSync('openssl', ['rand', '-hex', '32'], { encoding: 'utf8' }).trim();
  return writeKeyFile(dir, 'cluster.key', [key]);
}

/**
 * Flags of a test agent `name` in a keyed cluster: its node id, the shared key file and
 * its own data dir under `dir` (explicit, whatever the helpers' defaults), peer port 0.
 */
export function keyedAgentFlags(dir: string, keyFile: string, name: string): string[] {
  return [
    '--node-id',
    name,
    '--cluster-key',
    keyFile,
    '--data-dir',
    join(dir, name),
    '--peer-port',
    '0',
  ];
}

/** Paths of a test PKI made with openssl. */
export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by another CA the agents do not trust. */
  readonly rogueCert: string;
  readonly rogueKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, ca: string, cn: string): void {
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
  ]);
  // Agents are both servers and clients of each other; SANs cover the test addresses.
  // DNS:btagent: the name the Swarm stack's agents check each other's certificates for.
  const sans = [
    'DNS:localhost',
    'DNS:btagent',
    ...Array.from({ length: 9 }, (_, i) => `IP:127.0.0.${i + 1}`),
  ];
  writeFileSync(
    join(dir, `${name}.ext`),
    `subjectAltName=${sans.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
  ]);
}

/** Generates a CA, an agent certificate, a client certificate and a rogue client certificate. */
export function makeTestPki(): TestPki {
  const dir = tempDir('pki');
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  issue(dir, 'agent', 'ca', 'btagent');
  issue(dir, 'client', 'ca', 'operator');
  issue(dir, 'rogue', 'rogue-ca', 'intruder');
  const p = (f: string): string => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('agent.crt'),
    serverKey: p('agent.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    rogueCert: p('rogue.crt'),
    rogueKey: p('rogue.key'),
  };
}

/** The outcome of a raw gRPC unary call. */
export interface RawGrpcResult {
  readonly status: number;
  readonly message: string;
  readonly body: Buffer;
}

/**
 * A plaintext gRPC unary call over node:http2 from a chosen local address
 * (grpc-js cannot bind its source address): how a caller on another host looks
 * to the agent, on loopback. `request` is the serialized request message.
 */
export function rawGrpcCall(
  target: { host: string; port: number },
  path: string,
  request: Uint8Array,
  localAddress: string,
): Promise<RawGrpcResult> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://${target.host}:${target.port}`, {
      createConnection: () => tcpConnect({ host: target.host, port: target.port, localAddress }),
    });
    session.on('error', reject);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status = -1;
    let message = '';
    const take = (h: Record<string, unknown>): void => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      const all = Buffer.concat(chunks);
      resolve({ status, message, body: all.length >= 5 ? all.subarray(5) : Buffer.alloc(0) });
    });
    // gRPC framing: compressed flag, 4-byte length, message.
    const head = Buffer.alloc(5);
    head.writeUInt32BE(request.length, 1);
    stream.end(Buffer.concat([head, Buffer.from(request)]));
  });
}

/** One legacy exchange from `localAddress`: sends `line`, resolves with whatever came back. */
export function legacyExchange(
  port: number,
  line: string,
  localAddress = '127.0.0.1',
  host = '127.0.0.1',
): Promise<string> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port, localAddress });
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.setTimeout(3000, () => s.destroy());
    s.write(line);
  });
}

/**
 * One plaintext Cluster.Exchange call to `addr`, as another member (or an intruder) would
 * make it; rejects with the grpc-js ServiceError (its `code` is what the tests check).
 */
export function clusterExchange(addr: string, req: ExchangeRequest): Promise<ExchangeResponse> {
  const c = new ClusterClient(addr, credentials.createInsecure());
  return new Promise<ExchangeResponse>((resolve, reject) =>
    c.exchange(req, new Metadata(), { deadline: Date.now() + 3000 }, (err, res) => {
      if (err !== null) reject(err);
      else resolve(res!);
    }),
  ).finally(() => c.close());
}
