/**
 * The tracker's HTTP routes (GET /announce, GET /scrape) for the agent's HTTP
 * handler: method check, the observed address, the reply. The logic is in Tracker.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastRoute } from '../transport/http-fast.js';
import type { HttpRoute } from '../transport/http-handler.js';
import type { FastReply } from '../transport/http1-reply.js';
import type { Tracker, TrackerOutcome } from './tracker.js';

/** Counters the routes report to (the metrics registry's tracker hooks). */
export interface TrackerRouteHooks {
  announce?(event: string, result: string): void;
  scrape?(result: string): void;
}

/** BEP 3: the announce URL's path; BEP 48: the scrape URL replaces "announce" with "scrape". */
export const ANNOUNCE_PATH = '/announce';
export const SCRAPE_PATH = '/scrape';

function queryOf(req: IncomingMessage): string {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

function allowed(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
  res.end('method not allowed\n');
  return false;
}

function send(res: ServerResponse, out: TrackerOutcome): void {
  // BEP 3: a failure is still a 200 with a bencoded `failure reason`; clients show it.
  res.writeHead(200, {
    'content-type': 'text/plain',
    'content-length': out.body.length,
    'cache-control': 'no-store',
  });
  res.end(out.body);
}

/**
 * A bug, not bad input (Tracker.announce settles with a failure reply for that):
 * answer 500 and close rather than leave the client waiting, and keep the agent up.
 */
function internalError(res: ServerResponse, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
  res.end(`internal error: ${message.slice(0, 200)}\n`);
}

/** `send`'s reply for the fast path: the same status, fields (in order) and body. */
function fastReply(out: TrackerOutcome): FastReply {
  return {
    status: 200,
    fields: [
      ['content-type', 'text/plain'],
      ['content-length', String(out.body.length)],
      ['cache-control', 'no-store'],
    ],
    body: out.body,
  };
}

/**
 * The routes, by path, to register on the HTTP handler. Each also serves simple
 * GETs on the HTTP handler's fast path (`fast`), with the same replies and hooks.
 */
export function trackerRoutes(
  tracker: Tracker,
  hooks: TrackerRouteHooks = {},
): Record<string, HttpRoute> {
  const announceFast: FastRoute = (query, ip) =>
    tracker.announce(query, ip).then((out) => {
      hooks.announce?.(out.event, out.result);
      return fastReply(out);
    });
  const scrapeFast: FastRoute = (query, ip) => {
    const out = tracker.scrape(query, ip);
    hooks.scrape?.(out.result);
    return fastReply(out);
  };
  const announce: HttpRoute = (req, res) => {
    if (!allowed(req, res)) return;
    tracker.announce(queryOf(req), req.socket.remoteAddress ?? '').then(
      (out) => {
        hooks.announce?.(out.event, out.result);
        send(res, out);
      },
      (err: unknown) => internalError(res, err),
    );
  };
  const scrape: HttpRoute = (req, res) => {
    if (!allowed(req, res)) return;
    const out = tracker.scrape(queryOf(req), req.socket.remoteAddress ?? '');
    hooks.scrape?.(out.result);
    send(res, out);
  };
  return {
    [ANNOUNCE_PATH]: Object.assign(announce, { fast: announceFast }),
    [SCRAPE_PATH]: Object.assign(scrape, { fast: scrapeFast }),
  };
}
