import { credentials, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { ControlClient, ControlService } from '../../generated/btoverlay/v1/control.js';
import { TorrentsClient, TorrentsService } from '../../generated/btoverlay/v1/torrents.js';
import { InvalidArgumentError } from '../errors.js';
import { reportInternalErrors } from './grpc-errors.js';
import { unary } from './unary.js';

/** A bug in a handler is logged with its stack and answered INTERNAL; typed errors are not. */
describe('reportInternalErrors on a real gRPC server', () => {
  let server: Server;
  let port: number;
  const seen: { path: string; err: unknown }[] = [];
  const observe = (path: string, err: unknown): void => void seen.push({ path, err });

  beforeAll(async () => {
    server = new Server();
    server.addService(
      ControlService,
      reportInternalErrors(
        ControlService,
        {
          status: unary(() => {
            throw new TypeError('boom in status');
          }),
          members: unary(async () => {
            await Promise.resolve();
            throw new InvalidArgumentError('limit', 'too large');
          }),
        },
        observe,
      ),
    );
    server.addService(
      TorrentsService,
      reportInternalErrors(
        TorrentsService,
        {
          // A raw handler that throws (no unary() around it), and a stream that does.
          list: () => {
            throw new RangeError('boom in list');
          },
          watch: () => {
            throw new Error('boom in watch');
          },
        },
        observe,
      ),
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  afterAll(() => server.forceShutdown());

  const target = (): string => `127.0.0.1:${port}`;
  const unaryErr = <C extends { close(): void }>(
    c: C,
    fn: (c: C, cb: (e: ServiceError | null) => void) => void,
  ): Promise<ServiceError | null> =>
    new Promise((resolve) =>
      fn(c, (e) => {
        c.close();
        resolve(e);
      }),
    );

  it('answers INTERNAL without detail and reports the cause with its stack', async () => {
    seen.length = 0;
    const c = new ControlClient(target(), credentials.createInsecure());
    const err = await unaryErr(c, (c, cb) => c.status({}, cb));
    expect(err?.code).toBe(status.INTERNAL);
    expect(err?.details).toBe('internal error');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe('/btoverlay.v1.Control/Status');
    expect((seen[0]!.err as Error).stack).toMatch(/TypeError: boom in status\n\s+at /);
  });

  it('does not report typed errors', async () => {
    seen.length = 0;
    const c = new ControlClient(target(), credentials.createInsecure());
    const err = await unaryErr(c, (c, cb) => c.members({}, cb));
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(seen).toEqual([]);
  });

  it('catches a handler that throws, unary and streaming', async () => {
    seen.length = 0;
    const c = new TorrentsClient(target(), credentials.createInsecure());
    const err = await unaryErr(c, (c, cb) => c.list({}, cb));
    expect(err?.code).toBe(status.INTERNAL);
    const c2 = new TorrentsClient(target(), credentials.createInsecure());
    const code = await new Promise<number>((resolve) => {
      const s = c2.watch({ id: '' });
      s.on('data', () => {});
      s.on('error', () => {});
      s.on('status', (st: { code: number }) => {
        c2.close();
        resolve(st.code);
      });
    });
    expect(code).toBe(status.INTERNAL);
    expect(seen.map((s) => [s.path, (s.err as Error).message])).toEqual([
      ['/btoverlay.v1.Torrents/List', 'boom in list'],
      ['/btoverlay.v1.Torrents/Watch', 'boom in watch'],
    ]);
  });
});
