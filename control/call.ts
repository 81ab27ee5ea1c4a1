/**
 * How the client library calls an agent: one unary-call wrapper (a deadline per call)
 * and one mapping of a gRPC failure to AgentCallError, shared by every service client
 * (Overlay/Control/health in client.ts, Torrents in torrent-client.ts).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

/** A failed call: the agent answered with an error status, or could not be reached. */
export class AgentCallError extends Error {
  override name = 'AgentCallError';
  constructor(
    readonly node: string,
    readonly code: status,
    readonly details: string,
  ) {
    super(`${node}: ${status[code] ?? code}: ${details}`);
  }
  /** The agent was unreachable (or did not answer in time) rather than refusing. */
  get unreachable(): boolean {
    return this.code === status.UNAVAILABLE || this.code === status.DEADLINE_EXCEEDED;
  }
}

/** The AgentCallError of a failed call (unary or stream) to `node`. */
export function callError(node: string, err: ServiceError): AgentCallError {
  return new AgentCallError(node, err.code, err.details || err.message);
}

/** The callback of a generated unary client method. */
export type UnaryCallback<T> = (err: ServiceError | null, res?: T) => void;

/**
 * Runs one generated unary method, given as `(md, opts, cb) => client.method(req, md, opts, cb)`,
 * with a deadline; resolves with its reply or rejects with an AgentCallError.
 */
export type UnaryCaller = <T>(
  fn: (md: Metadata, opts: { deadline: number }, cb: UnaryCallback<T>) => void,
) => Promise<T>;

/** Call metadata carrying `token` as `authorization: Bearer …` (none without a token). */
export function authMetadata(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
}

/**
 * A UnaryCaller for the agent at `node` whose calls each get `timeoutMs` to answer,
 * sending the admin `token` when given.
 */
export function unaryCaller(node: string, timeoutMs: number, token?: string): UnaryCaller {
  return <T>(
    fn: (md: Metadata, opts: { deadline: number }, cb: UnaryCallback<T>) => void,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      fn(authMetadata(token), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(callError(node, err));
        else resolve(res as T);
      });
    });
}
