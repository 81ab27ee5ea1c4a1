import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  status,
  type ServiceError,
} from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlClient, ControlService } from '../../generated/btoverlay/v1/control.js';
import { TorrentsClient, TorrentsService } from '../../generated/btoverlay/v1/torrents.js';
import { makeTestPki, type TestPki } from '../../test/helpers/security.js';
import {
  AdminCa,
  AdminPolicy,
  AdminToken,
  isAdminMethod,
  type AdminOptions,
  type AdminRefusal,
} from './admin.js';
import { adminInterceptor } from '../transport/admin-interceptor.js';
import { SourceSet } from './sources.js';

const TOKEN = 'a'.repeat(20) + 'b'.repeat(20);

const policy = (o: Partial<AdminOptions> = {}): AdminPolicy =>
  new AdminPolicy({
    sources: o.sources ?? SourceSet.parse('127.0.0.0/8,::1'),
    token: o.token,
    tlsCa: o.tlsCa,
  });

const caller = (ip: string, authorization: unknown[] = [], peerCert?: Buffer) => ({
  ip,
  authorization,
  peerCert,
});

describe('AdminToken', () => {
  it('needs 32 printable characters on one line', () => {
    expect(() => AdminToken.parse('short')).toThrow(/at least 32/);
    expect(() => AdminToken.parse(`${'x'.repeat(20)} ${'y'.repeat(20)}`)).toThrow(/printable/);
    expect(() => AdminToken.parse('x'.repeat(5000))).toThrow(/longer than/);
    expect(AdminToken.parse(`  ${TOKEN}\n`).matches(TOKEN)).toBe(true);
  });

  it('matches only the exact token (any length presented)', () => {
    const t = AdminToken.parse(TOKEN);
    expect(t.matches(TOKEN.slice(0, -1))).toBe(false);
    expect(t.matches(`${TOKEN}x`)).toBe(false);
    expect(t.matches('')).toBe(false);
  });
});

describe('AdminPolicy', () => {
  it('admits admin sources, IPv4-mapped included, with no credential', () => {
    expect(policy().check(caller('127.0.0.1'))).toEqual({ ok: true, via: 'source' });
    expect(policy().check(caller('::ffff:127.0.0.5'))).toEqual({ ok: true, via: 'source' });
    expect(policy().check(caller('::1'))).toEqual({ ok: true, via: 'source' });
  });

  it('refuses others with PERMISSION_DENIED naming the flags', () => {
    const v = policy().check(caller('198.18.128.2'));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.reason).toBe('not_admin');
    expect(v.error.name).toBe('PermissionDeniedError');
    expect(v.error.message).toContain('198.18.128.2');
    expect(v.error.message).toContain('--admin-sources');
    expect(v.error.message).toContain('--admin-token-file');
    expect(v.error.message).toContain('btctl --token-file');
  });

  it('an empty --admin-sources admits nobody by address, loopback included', () => {
    const v = policy({ sources: SourceSet.parse('') }).check(caller('127.0.0.1'));
    expect(v.ok).toBe(false);
  });

  it('admits the right bearer token; a wrong one is UNAUTHENTICATED', () => {
    const p = policy({ token: AdminToken.parse(TOKEN) });
    expect(p.check(caller('198.18.128.2', [`Bearer ${TOKEN}`]))).toEqual({
      ok: true,
      via: 'token',
    });
    expect(p.check(caller('198.18.128.2', [`bearer  ${TOKEN}`]))).toEqual({
      ok: true,
      via: 'token',
    });
    for (const bad of [[`Bearer ${TOKEN}x`], [TOKEN], ['Basic abc'], [`Bearer ${TOKEN}`, 'x']]) {
      const v = p.check(caller('198.18.128.2', bad));
      expect(v.ok).toBe(false);
      if (!v.ok) {
        expect(v.reason).toBe('bad_token');
        expect(v.error.name).toBe('UnauthenticatedError');
        expect(v.error.message).toContain('--admin-token-file');
      }
    }
    // No token at all: not an authentication failure, just not an admin.
    const none = p.check(caller('198.18.128.2'));
    expect(!none.ok && none.reason).toBe('not_admin');
  });

  it('a token sent to an agent without --admin-token-file admits nothing', () => {
    const v = policy().check(caller('198.18.128.2', [`Bearer ${TOKEN}`]));
    expect(!v.ok && v.reason).toBe('not_admin');
    expect(!v.ok && v.error.message).toContain('start the agent with --admin-token-file');
  });

  it('names only the admin services', () => {
    expect(isAdminMethod('/btoverlay.v1.Torrents/Add')).toBe(true);
    expect(isAdminMethod('/btoverlay.v1.Torrents/Watch')).toBe(true);
    expect(isAdminMethod('/btoverlay.v1.Overlay/Lookup')).toBe(false);
    expect(isAdminMethod('/btoverlay.v1.Control/Status')).toBe(false);
    expect(isAdminMethod('/grpc.health.v1.Health/Check')).toBe(false);
  });
});

describe('AdminCa', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  const der = (path: string): Buffer =>
    Buffer.from(
      readFileSync(path, 'utf8')
        .replace(/-----[A-Z ]+-----/g, '')
        .replace(/\s+/g, ''),
      'base64',
    );

  it('admits certificates its CA issued, not another CA', () => {
    const ca = AdminCa.parse(readFileSync(pki.caCert, 'utf8'));
    expect(ca.issued(der(pki.clientCert))).toBe(true);
    expect(ca.issued(der(pki.rogueCert))).toBe(false);
    expect(ca.issued(Buffer.from('not a certificate'))).toBe(false);
    const p = policy({ sources: SourceSet.parse(''), tlsCa: ca });
    expect(p.check(caller('198.18.128.2', [], der(pki.clientCert)))).toEqual({
      ok: true,
      via: 'certificate',
    });
    const rogue = p.check(caller('198.18.128.2', [], der(pki.rogueCert)));
    expect(!rogue.ok && rogue.error.message).toContain('--admin-tls-ca');
  });

  it('reads a bundle of several CAs', () => {
    const bundle =
      readFileSync(pki.caCert, 'utf8') + readFileSync(join(pki.dir, 'rogue-ca.crt'), 'utf8');
    expect(AdminCa.parse(bundle).issued(der(pki.rogueCert))).toBe(true);
    expect(() => AdminCa.parse('nothing')).toThrow(/no PEM/);
  });
});

describe('adminInterceptor on a real gRPC server', () => {
  let server: Server;
  let port: number;
  const refused: AdminRefusal[] = [];
  let handled = 0;

  beforeAll(async () => {
    // Loopback is not an admin source here, so the loopback client stands for an outsider.
    const p = policy({ sources: SourceSet.parse(''), token: AdminToken.parse(TOKEN) });
    server = new Server({ interceptors: [adminInterceptor(p, (reason) => refused.push(reason))] });
    server.addService(TorrentsService, {
      list: (_call: unknown, cb: (e: null, r: { torrents: [] }) => void) => {
        handled++;
        cb(null, { torrents: [] });
      },
      watch: (call: { metadata: Metadata; end(): void }) => {
        handled++;
        // The secret never reaches a handler.
        expect(call.metadata.get('authorization')).toEqual([]);
        call.end();
      },
    });
    server.addService(ControlService, {
      members: (_call: unknown, cb: (e: null, r: { members: [] }) => void) =>
        cb(null, { members: [] }),
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  afterAll(() => server.forceShutdown());

  const md = (auth?: string): Metadata => {
    const m = new Metadata();
    if (auth !== undefined) m.set('authorization', auth);
    return m;
  };
  const list = (m: Metadata): Promise<ServiceError | null> => {
    const c = new TorrentsClient(`127.0.0.1:${port}`, credentials.createInsecure());
    return new Promise((resolve) =>
      c.list({}, m, (err) => {
        c.close();
        resolve(err);
      }),
    );
  };
  const watch = (m: Metadata): Promise<number> => {
    const c = new TorrentsClient(`127.0.0.1:${port}`, credentials.createInsecure());
    return new Promise((resolve) => {
      const s = c.watch({ id: '' }, m);
      s.on('data', () => {});
      s.on('error', () => {}); // the status says it
      s.on('status', (st: { code: number }) => {
        c.close();
        resolve(st.code);
      });
    });
  };

  it('refuses unary and streaming admin calls before their handler runs', async () => {
    const before = handled;
    const err = await list(md());
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toContain('--admin-sources');
    expect(await watch(md())).toBe(status.PERMISSION_DENIED);
    expect((await list(md('Bearer wrong')))?.code).toBe(status.UNAUTHENTICATED);
    expect(await watch(md('Bearer wrong'))).toBe(status.UNAUTHENTICATED);
    expect(handled).toBe(before);
    expect(refused).toEqual(['not_admin', 'not_admin', 'bad_token', 'bad_token']);
  });

  it('admits the token, and leaves public methods alone', async () => {
    expect(await list(md(`Bearer ${TOKEN}`))).toBeNull();
    expect(await watch(md(`Bearer ${TOKEN}`))).toBe(status.OK);
    const c = new ControlClient(`127.0.0.1:${port}`, credentials.createInsecure());
    const err = await new Promise((resolve) => c.members({}, (e) => resolve(e)));
    c.close();
    expect(err).toBeNull();
  });
});
