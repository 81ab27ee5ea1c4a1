import { createServer, type AddressInfo } from 'node:net';
import { outsiderOrSkip, type Outsider } from './helpers/outsider.js';
import { requireTools } from './helpers/tools.js';

requireTools('ip');

/** The outsider helper really is another host: the server sees its address, not loopback. */
const outsider: Outsider | undefined = outsiderOrSkip('outsider');

(outsider ? describe : describe.skip)('an outsider host in a network namespace', () => {
  afterAll(() => outsider?.close());

  it('reaches a server on 0.0.0.0 from its own address', async () => {
    const o = outsider!;
    const seen: string[] = [];
    const server = createServer((s) => {
      seen.push(s.remoteAddress ?? '');
      s.end('hello\n');
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await o.run(process.execPath, [
        '-e',
        `require('net').connect(${port}, '${o.hostIp}').on('data', (d) => process.stdout.write(d))`,
      ]);
      expect(r.stdout).toBe('hello\n');
      expect(seen.map((a) => a.replace(/^::ffff:/, ''))).toEqual([o.ip]);
      // Loopback is the outsider's own, not the agent host's.
      const lo = await o.run(process.execPath, [
        '-e',
        `require('net').connect(${port}, '127.0.0.1').on('error', () => process.exit(3))`,
      ]);
      expect(lo.code).toBe(3);
    } finally {
      server.close();
    }
  });
});
