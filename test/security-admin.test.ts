import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BTAGENT,
  BTCTL,
  ROOT,
  btctl,
  randomInfoHash,
  run,
  startTorrentAgent,
  type AgentProcess,
} from './helpers/agent-process.js';
import { outsiderOrSkip, type Outsider } from './helpers/outsider.js';
import { makeTestPki, tempDir, type TestPki } from './helpers/security.js';

/**
 * The private admin plane (issue 12 item 1, docs/security.md §6), against real
 * agents listening on 0.0.0.0 and probed from another host (a network namespace):
 * Torrents, Watch included, answers only the agent's own host, the holder of the
 * --admin-token-file secret, or a client certificate of --admin-tls-ca.
 */
const outsider: Outsider | undefined = outsiderOrSkip('security-admin');

const magnet = (ih: string): string => `magnet:?xt=urn:btih:${ih}&dn=admin-test`;

(outsider ? describe : describe.skip)('the admin plane', () => {
  const o = outsider!;
  let dir: string;
  let pki: TestPki;
  let tokenFile: string;
  let wrongTokenFile: string;
  const agents: AgentProcess[] = [];

  /** btctl run on the outsider host. */
  const remote = (args: string[], env: Record<string, string> = {}) =>
    o.run(process.execPath, [BTCTL, ...args], { env, timeoutMs: 20_000 });
  const at = (a: AgentProcess): string => `${o.hostIp}:${a.port}`;
  const local = (a: AgentProcess): string => `127.0.0.1:${a.port}`;
  const start = async (name: string, extra: string[] = []): Promise<AgentProcess> => {
    const a = await startTorrentAgent('0.0.0.0', join(dir, name, 'data'), { extra });
    agents.push(a);
    return a;
  };
  const metric = async (a: AgentProcess, series: string): Promise<number> => {
    const text = await (await fetch(`http://${local(a)}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? 0 : Number(line.slice(series.length + 1));
  };

  beforeAll(() => {
    dir = tempDir('admin');
    pki = makeTestPki();
    tokenFile = join(dir, 'admin.token');
    writeFileSync(tokenFile, `${'7f'.repeat(32)}\n`, { mode: 0o600 });
    wrongTokenFile = join(dir, 'wrong.token');
    writeFileSync(wrongTokenFile, `${'e1'.repeat(32)}\n`, { mode: 0o600 });
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    o.close();
  });

  it('a default agent: Lookup is public, every Torrents method is refused from another host and counted; its own host needs no flag', async () => {
    const a = await start('default');
    const ih = randomInfoHash();
    // From the agent's own machine, no flags.
    const added = await btctl(['torrent', 'add', magnet(ih), '--paused', '--node', local(a)]);
    expect(added).toMatchObject({ code: 0 });

    const lookup = await remote(['lookup', ih, '--node', at(a)]);
    expect(lookup).toMatchObject({ code: 0 });

    const calls = [
      ['add', magnet(randomInfoHash())],
      ['list'],
      ['show', ih],
      ['pause', ih],
      ['resume', ih],
      ['rm', ih, '--delete-data'],
      ['watch', ih],
    ];
    for (const args of calls) {
      const r = await remote(['torrent', ...args, '--node', at(a)]);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toContain('PERMISSION_DENIED');
      expect(r.stderr).toContain(`this host (${o.ip}) is not in --admin-sources`);
      expect(r.stderr).toContain('--admin-token-file');
    }

    // Watch straight through grpc-js: the stream's status is the refusal.
    const script = join(dir, 'watch.mjs');
    writeFileSync(
      script,
      [
        `import { createRequire } from 'node:module';`,
        `const { credentials } = createRequire(${JSON.stringify(join(ROOT, 'package.json'))})('@grpc/grpc-js');`,
        `const { TorrentsClient } = await import(${JSON.stringify(join(ROOT, 'dist', 'generated', 'btoverlay', 'v1', 'torrents.js'))});`,
        `const c = new TorrentsClient(process.argv[2], credentials.createInsecure());`,
        `const s = c.watch({ id: '' });`,
        `s.on('data', () => console.log(JSON.stringify({ data: true })));`,
        `s.on('error', () => {});`,
        `s.on('status', (st) => { console.log(JSON.stringify({ code: st.code, details: st.details })); c.close(); });`,
      ].join('\n'),
    );
    const w = await o.run(process.execPath, [script, at(a)]);
    expect(
      w.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([{ code: 7, details: expect.stringContaining('--admin-sources') as unknown }]);

    expect(await metric(a, 'btoverlay_admin_refusals_total{reason="not_admin"}')).toBe(
      calls.length + 1,
    );
    // Nothing the outsider asked for happened.
    const list = await btctl(['torrent', 'list', '--json', '--node', local(a)]);
    const torrents = (JSON.parse(list.stdout) as { torrents: { id: string; state: string }[] })
      .torrents;
    expect(torrents.map((t) => [t.id, t.state])).toEqual([[ih, 'paused']]);
    const rm = await btctl(['torrent', 'rm', ih, '--node', local(a)]);
    expect(rm).toMatchObject({ code: 0 });
  }, 90_000);

  it('with --admin-token-file, the outsider holding the token manages torrents; a wrong token is UNAUTHENTICATED, none PERMISSION_DENIED', async () => {
    const b = await start('token', ['--admin-token-file', tokenFile]);
    // Plaintext gRPC carries the token readable on the path: the agent says so at start.
    expect(b.logs.some((l) => l.level === 40 && String(l.msg).includes('plaintext'))).toBe(true);
    const ih = randomInfoHash();
    const withToken = ['--token-file', tokenFile, '--node', at(b)];
    expect(await remote(['torrent', 'add', magnet(ih), '--paused', ...withToken])).toMatchObject({
      code: 0,
    });
    const list = await remote(['torrent', 'list', '--json', '--node', at(b)], {
      BTCTL_TOKEN_FILE: tokenFile,
    });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toMatchObject({ torrents: [{ id: ih }] });

    const wrong = await remote([
      'torrent',
      'list',
      '--token-file',
      wrongTokenFile,
      '--node',
      at(b),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('UNAUTHENTICATED');
    expect(wrong.stderr).toContain('--admin-token-file');
    const none = await remote(['torrent', 'rm', ih, '--node', at(b)]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('PERMISSION_DENIED');

    expect(await remote(['torrent', 'rm', ih, ...withToken])).toMatchObject({ code: 0 });
    expect(await metric(b, 'btoverlay_admin_refusals_total{reason="bad_token"}')).toBe(1);
    expect(await metric(b, 'btoverlay_admin_refusals_total{reason="not_admin"}')).toBe(1);

    // A bad token file is a usage error naming the flag, on either side.
    const missing = await btctl(['torrent', 'list', '--token-file', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--token-file');
    const short = join(dir, 'short.token');
    writeFileSync(short, 'secret\n');
    const badCli = await btctl(['torrent', 'list', '--node', local(b)], {
      BTCTL_TOKEN_FILE: short,
    });
    expect(badCli.code).toBe(2);
    expect(badCli.stderr).toContain('BTCTL_TOKEN_FILE');
    const badAgent = await run(BTAGENT, [
      'run',
      '--listen',
      '127.0.0.1:0',
      '--admin-token-file',
      short,
    ]);
    expect(badAgent.code).toBe(2);
    expect(badAgent.stderr).toContain('--admin-token-file');
    expect(badAgent.stderr).toContain('at least 32');
  }, 90_000);

  it('with --admin-tls-ca, a client certificate of that CA manages torrents; one of --tls-ca alone does not', async () => {
    const tls = ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey];
    const adminCa = join(pki.dir, 'rogue-ca.crt');
    // mTLS for everyone (--tls-ca), admin only for the second CA's certificates.
    const c = await start('mtls', [...tls, '--tls-ca', pki.caCert, '--admin-tls-ca', adminCa]);
    const client = (cert: string, key: string): string[] => [
      '--tls-ca',
      pki.caCert,
      '--tls-server-name',
      'localhost',
      '--tls-cert',
      cert,
      '--tls-key',
      key,
    ];
    const member = client(pki.clientCert, pki.clientKey);
    const admin = client(pki.rogueCert, pki.rogueKey);
    expect(await remote(['status', '--node', at(c), ...member])).toMatchObject({ code: 0 });
    const refused = await remote(['torrent', 'list', '--node', at(c), ...member]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('PERMISSION_DENIED');
    expect(refused.stderr).toContain('--admin-tls-ca');
    expect(await remote(['torrent', 'list', '--node', at(c), ...admin])).toMatchObject({
      code: 0,
    });

    // TLS without --tls-ca: the admin CA's certificate is asked for, not required.
    const d = await start('tls', [...tls, '--admin-tls-ca', pki.caCert]);
    const anon = ['--tls-ca', pki.caCert, '--tls-server-name', 'localhost'];
    expect(await remote(['lookup', randomInfoHash(), '--node', at(d), ...anon])).toMatchObject({
      code: 0,
    });
    expect((await remote(['torrent', 'list', '--node', at(d), ...anon])).stderr).toContain(
      'PERMISSION_DENIED',
    );
    expect((await remote(['torrent', 'list', '--node', at(d), ...admin])).stderr).toContain(
      'PERMISSION_DENIED',
    );
    expect(await remote(['torrent', 'list', '--node', at(d), ...member])).toMatchObject({
      code: 0,
    });
  }, 90_000);
});
