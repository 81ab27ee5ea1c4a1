import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import {
  EXIT_UNCAUGHT,
  installProcessErrorHandlers,
  processErrors,
  reportGrpcInternal,
} from './process-errors.js';

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), lines };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The handlers' behaviour; test/process-errors.test.ts sees them in a real agent process. */
describe('installProcessErrorHandlers', () => {
  it('an unhandled rejection is logged with its stack, counted, and nothing exits', async () => {
    const { log, lines } = capture();
    const proc = new EventEmitter();
    const exits: number[] = [];
    const uninstall = installProcessErrorHandlers(log, proc as never, (c) => exits.push(c));
    const before = processErrors.unhandled_rejection;
    proc.emit('unhandledRejection', new Error('nobody awaited this'));
    proc.emit('unhandledRejection', 'a string');
    await flush();
    expect(processErrors.unhandled_rejection).toBe(before + 2);
    expect(exits).toEqual([]);
    expect(lines[0]).toMatchObject({ level: 50, msg: expect.stringContaining('unhandled') });
    expect((lines[0]!.err as { stack: string }).stack).toMatch(/nobody awaited this\n\s+at /);
    expect((lines[1]!.err as { message: string }).message).toContain('a string');
    uninstall();
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
  });

  it('an uncaught exception is logged fatal with its stack, counted, and exits 70', async () => {
    const { log, lines } = capture();
    const proc = new EventEmitter();
    const exits: number[] = [];
    installProcessErrorHandlers(log, proc as never, (c) => exits.push(c));
    const before = processErrors.uncaught_exception;
    proc.emit('uncaughtException', new TypeError('corrupt'), 'uncaughtException');
    await flush();
    expect(processErrors.uncaught_exception).toBe(before + 1);
    expect(exits).toEqual([EXIT_UNCAUGHT]);
    expect(lines[0]).toMatchObject({ level: 60, origin: 'uncaughtException' });
    expect((lines[0]!.err as { stack: string }).stack).toMatch(/TypeError: corrupt\n\s+at /);
  });

  it('reportGrpcInternal logs the method and stack and counts', async () => {
    const { log, lines } = capture();
    const before = processErrors.grpc_internal;
    reportGrpcInternal(log, '/btoverlay.v1.Control/Status', new Error('bug'));
    await flush();
    expect(processErrors.grpc_internal).toBe(before + 1);
    expect(lines[0]).toMatchObject({ level: 50, method: '/btoverlay.v1.Control/Status' });
    expect((lines[0]!.err as { stack: string }).stack).toContain('Error: bug');
  });
});
