import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AgentMetrics } from './metrics.js';

/** The path Prometheus scrapes. */
export const METRICS_PATH = '/metrics';

/**
 * GET /metrics: the agent's registry in the Prometheus text format. HEAD is
 * answered like GET without a body; other methods get 405.
 */
export function metricsRoute(
  metrics: AgentMetrics,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    metrics.render().then(
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
