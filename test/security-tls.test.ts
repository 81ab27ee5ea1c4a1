import { request } from 'node:http';
import { connect } from '../control/client.js';
import { readClientTls } from '../control/tls.js';
import {
  btctl,
  eventually,
  randomInfoHash,
  startAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { legacyExchange, makeTestPki, type TestPki } from './helpers/security.js';
import { requireTools } from './helpers/tools.js';

requireTools('openssl');

/**
 * Optional mTLS for gRPC on the one port: a TLS ClientHello goes to grpc-js's
 * TLS connection injector (client certificate required with --tls-ca), while
 * the legacy protocol and HTTP/1.1 keep working in plaintext on the same port.
 * Certificates are made with openssl into a temporary directory per run.
 */

describe('mTLS', () => {
  let pki: TestPki;
  let a: AgentProcess;
  let b: AgentProcess;
  let tlsArgs: string[];
  let clientArgs: string[];

  beforeAll(async () => {
    pki = makeTestPki();
    tlsArgs = ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey, '--tls-ca', pki.caCert];
    clientArgs = ['--tls-ca', pki.caCert, '--tls-cert', pki.clientCert, '--tls-key', pki.clientKey];
    // A trusts no source address: only its mTLS clients may announce other hosts.
    a = await startAgent(['--node-id', 'tls-a', '--trusted-sources', '', ...tlsArgs]);
    b = await startAgent(['--node-id', 'tls-b', '--bootstrap', a.addr, ...tlsArgs], {
      host: '127.0.0.2',
    });
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a, b].map((x) => x?.stop()));
  });

  it('btctl with a client certificate works; without one, with a rogue one, or in plaintext it is refused', async () => {
    const ok = await btctl(['status', '--node', a.addr, ...clientArgs]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('tls-a');
    expect((await btctl(['health', '--node', a.addr, ...clientArgs])).code).toBe(0);
    // `btctl torrent …` speaks to the Torrents service over the same mTLS channel.
    const torrents = await btctl(['torrent', 'list', '--node', a.addr, '--json', ...clientArgs]);
    expect(torrents).toMatchObject({ code: 0 });
    expect(JSON.parse(torrents.stdout)).toEqual({ torrents: [] });
    expect((await btctl(['torrent', 'list', '--node', a.addr])).code).toBe(1);

    const noCert = await btctl(['status', '--node', a.addr, '--tls-ca', pki.caCert]);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toContain(a.addr);
    const rogue = await btctl([
      'status',
      '--node',
      a.addr,
      '--tls-ca',
      pki.caCert,
      '--tls-cert',
      pki.rogueCert,
      '--tls-key',
      pki.rogueKey,
    ]);
    expect(rogue.code).toBe(1);
    const plain = await btctl(['status', '--node', a.addr]);
    expect(plain.code).toBe(1);
    // A bad TLS flag is a usage error naming it.
    const bad = await btctl(['status', '--node', a.addr, '--tls-cert', pki.clientCert]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--tls-key');
  });

  it('agents gossip to each other over mTLS', async () => {
    const tls = readClientTls({
      tlsCa: pki.caCert,
      tlsCert: pki.clientCert,
      tlsKey: pki.clientKey,
    });
    const ca = connect(a.addr, { tls });
    const cb = connect(b.addr, { tls });
    try {
      expect(
        await eventually(
          async () => (await ca.members()).some((m) => m.nodeId === 'tls-b' && m.state === 'alive'),
          8000,
        ),
      ).toBe(true);
      // An mTLS client is trusted to announce any address, even with no trusted sources.
      const ih = Buffer.from(randomInfoHash(), 'hex');
      await ca.announce({ infoHash: ih, addr: '10.7.0.1:6881' });
      expect(await eventually(async () => (await cb.lookup(ih)).length === 1, 3000)).toBe(true);
      expect((await ca.status()).securityRefusals['tls.plaintext_refused']).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      ca.close();
      cb.close();
    }
  });

  it('the same port still speaks the legacy protocol and HTTP/1.1 in plaintext', async () => {
    const hex = randomInfoHash();
    const pct = hex.toUpperCase().replace(/(..)/g, '%$1');
    expect(await legacyExchange(a.port, `{"type":"lookup","info_hash":"${pct}"}\n`)).toBe('[]\n');
    const code = await new Promise<number>((resolve, reject) => {
      const req = request({ host: a.host, port: a.port, path: '/no-such-path' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(code).toBe(404);
  });
});
