import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentMetrics } from './metrics.js';

/** The path Prometheus scrapes. */
export const METRICS_PATH = '/metrics';

/** Options of the /metrics route. */
export interface MetricsRouteOptions {
  /**
   * Scrapes within this many ms of a render share it (rendering every family
   * costs milliseconds, and the endpoint is open to anyone); 0 renders each time.
   */
  readonly cacheMs?: number;
  /** Requests always rendered afresh (trusted sources: the operator's own Prometheus). */
  readonly fresh?: (req: IncomingMessage) => boolean;
}

/**
 * GET /metrics: the agent's registry in the Prometheus text format. HEAD is
 * answered like GET without a body; other methods get 405.
 */
export function metricsRoute(
  metrics: AgentMetrics,
  options: MetricsRouteOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const cacheMs = options.cacheMs ?? 0;
  let cached: { at: number; text: Promise<string> } | undefined;
  const render = (req: IncomingMessage): Promise<string> => {
    if (cacheMs <= 0 || options.fresh?.(req) === true) return metrics.render();
    const now = Date.now();
    if (cached === undefined || now - cached.at >= cacheMs) {
      cached = { at: now, text: metrics.render() };
      // A failed render is not served again.
      cached.text.catch(() => (cached = undefined));
    }
    return cached.text;
  };
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    render(req).then(
      (text) => {
        res.writeHead(200, {
          'content-type': metrics.registry.contentType,
          'content-length': Buffer.byteLength(text),
        });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${(err as Error).message}\n`);
      },
    );
  };
}
