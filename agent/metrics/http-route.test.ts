import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentMetrics } from './metrics.js';
import { metricsRoute } from './http-route.js';

/** A stand-in for the registry: counts renders (a real render is what the cache saves). */
function counting(): { metrics: AgentMetrics; renders: () => number } {
  let n = 0;
  const metrics = {
    registry: { contentType: 'text/plain; version=0.0.4' },
    render: () => Promise.resolve(`render ${++n}\n`),
  } as unknown as AgentMetrics;
  return { metrics, renders: () => n };
}

/** One GET from `ip`; resolves with the body. */
function get(route: ReturnType<typeof metricsRoute>, ip: string): Promise<string> {
  return new Promise((resolve) => {
    const req = { method: 'GET', socket: { remoteAddress: ip } } as unknown as IncomingMessage;
    const res = {
      writeHead: () => res,
      end: (body: string) => resolve(body),
    } as unknown as ServerResponse;
    route(req, res);
  });
}

describe('metricsRoute', () => {
  it('serves outsiders one render per interval, and trusted sources a fresh one', async () => {
    const { metrics, renders } = counting();
    const route = metricsRoute(metrics, {
      cacheMs: 60_000,
      fresh: (req) => req.socket.remoteAddress === '127.0.0.1',
    });
    const outside = await Promise.all(Array.from({ length: 10 }, () => get(route, '198.18.0.2')));
    expect(new Set(outside)).toEqual(new Set(['render 1\n']));
    expect(await get(route, '127.0.0.1')).toBe('render 2\n');
    expect(await get(route, '198.18.0.3')).toBe('render 1\n');
    expect(renders()).toBe(2);
  });

  it('renders every scrape without a cache', async () => {
    const { metrics, renders } = counting();
    const route = metricsRoute(metrics);
    await get(route, '198.18.0.2');
    await get(route, '198.18.0.2');
    expect(renders()).toBe(2);
  });
});
