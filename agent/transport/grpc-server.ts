import {
  Server,
  ServerCredentials,
  type ConnectionInjector,
  type ServerInterceptor,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterService } from '../../generated/btoverlay/v1/cluster.js';
import { ControlService } from '../../generated/btoverlay/v1/control.js';
import { OverlayService } from '../../generated/btoverlay/v1/overlay.js';
import { TorrentsService } from '../../generated/btoverlay/v1/torrents.js';
import { PROTO_DIR } from '../paths.js';
import { reportInternalErrors, type InternalErrorObserver } from './grpc-errors.js';
import { GrpcInboundGuard, http2ServersOf, type GrpcGuardHooks } from './grpc-guard.js';
import { DEFAULT_GRPC_INBOUND_LIMITS, type GrpcInboundLimits } from './grpc-inbound.js';

/** The fully qualified names of the services, as health checks name them. */
export const SERVICE_NAMES = [
  'btoverlay.v1.Overlay',
  'btoverlay.v1.Control',
  'btoverlay.v1.Cluster',
  'btoverlay.v1.Torrents',
] as const;

/**
 * HTTP/2 bounds of one gRPC connection (docs/security.md). A remote chooses how
 * many streams it opens and how much it makes the session buffer; these keep
 * one connection's share of the agent's memory and loop small.
 */
export interface GrpcConnectionLimits {
  /** Streams open at once per connection (RFC 9113 §6.5.2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** A connection with no stream open for this long is closed (GOAWAY), ms. */
  readonly maxConnectionIdleMs: number;
  /** Memory one HTTP/2 session may hold (Node's `maxSessionMemory`), MiB. */
  readonly maxSessionMemoryMiB: number;
}

/**
 * 100 streams is what RFC 9113 §6.5.2 recommends as the least a server should
 * allow, and more than btctl, a Watch and an agent's gossip ever use at once.
 * Agents gossip every 200 ms, so only abandoned connections sit idle for 5 min
 * (clients reconnect transparently). 64 MiB holds a dozen of the largest (4 MiB)
 * messages in flight; Node's own default of 10 MiB would refuse one.
 */
export const DEFAULT_GRPC_CONNECTION_LIMITS: GrpcConnectionLimits = Object.freeze({
  maxConcurrentStreams: 100,
  maxConnectionIdleMs: 5 * 60_000,
  maxSessionMemoryMiB: 64,
});

/** Options of the agent's gRPC server. */
export interface GrpcServerOptions {
  /** Per-connection HTTP/2 bounds; DEFAULT_GRPC_CONNECTION_LIMITS when absent. */
  readonly limits?: GrpcConnectionLimits;
  /** Largest message received or sent, bytes. */
  readonly maxMessageBytes: number;
  /** Interceptors every call passes through (metrics), outermost first. */
  readonly interceptors?: ServerInterceptor[];
  /**
   * TLS (security/tls.ts `serverCredentials`): connections the port sniffer
   * sees starting with a TLS ClientHello go to a second injector with these
   * credentials, where grpc-js runs the handshake (and checks the client
   * certificate) on the socket, HTTP/2 inside.
   */
  readonly tls?: ServerCredentials;
  /** Sees every error answered INTERNAL, with its stack (the agent logs and counts it). */
  readonly onInternalError?: InternalErrorObserver;
  /**
   * Bounds on unfinished request messages and stream resets (grpc-inbound.ts), and
   * what to do with refusals. Without it nothing a remote buffers is bounded beyond
   * `maxMessageBytes` per stream.
   */
  readonly inbound?: {
    readonly limits?: GrpcInboundLimits;
    readonly hooks: GrpcGuardHooks;
  };
}

/** Service implementations to serve, keyed as in SERVICE_NAMES. */
export interface GrpcServices {
  readonly overlay: UntypedServiceImplementation;
  readonly control: UntypedServiceImplementation;
  /** Agent-to-agent membership and gossip (btoverlay.v1.Cluster). */
  readonly cluster: UntypedServiceImplementation;
  /** The agent's torrents (btoverlay.v1.Torrents). */
  readonly torrents: UntypedServiceImplementation;
}

/** The agent's gRPC server, fed connections by the port sniffer rather than binding itself. */
export interface AgentGrpcServer {
  readonly injector: ConnectionInjector;
  /** Takes TLS connections (first bytes put back); undefined without `tls`. */
  readonly tlsInjector: ConnectionInjector | undefined;
  readonly health: HealthImplementation;
  /** The inbound budget's guard (undefined without `inbound`). */
  readonly inbound: GrpcInboundGuard | undefined;
  /** Marks every service SERVING. */
  setServing(): void;
  /** Marks every service NOT_SERVING (shutdown begins). */
  setNotServing(): void;
  /** Waits for in-flight calls up to `graceMs`, then cancels what is left. */
  shutdown(graceMs: number): Promise<void>;
}

function protoFiles(): string[] {
  return readdirSync(join(PROTO_DIR, 'btoverlay', 'v1'))
    .filter((f) => f.endsWith('.proto'))
    .map((f) => join('btoverlay', 'v1', f));
}

/** Builds the gRPC server: Overlay, Control, grpc.health.v1 and server reflection. */
export function createGrpcServer(
  services: GrpcServices,
  options: GrpcServerOptions,
): AgentGrpcServer {
  const limits = options.limits ?? DEFAULT_GRPC_CONNECTION_LIMITS;
  const server = new Server({
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs,
    'grpc-node.max_session_memory': limits.maxSessionMemoryMiB,
    'grpc.max_receive_message_length': options.maxMessageBytes,
    'grpc.max_send_message_length': options.maxMessageBytes,
    // Agents keep channels to each other open; let idle ones be pinged, not dropped.
    'grpc.keepalive_permit_without_calls': 1,
    interceptors: options.interceptors ?? [],
  });
  const observe = options.onInternalError ?? ((): void => {});
  const add = (def: ServiceDefinition, impl: UntypedServiceImplementation): void =>
    server.addService(def, reportInternalErrors(def, impl, observe));
  add(OverlayService, services.overlay);
  add(ControlService, services.control);
  add(ClusterService, services.cluster);
  add(TorrentsService, services.torrents);

  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    ...Object.fromEntries(SERVICE_NAMES.map((s) => [s, 'NOT_SERVING' as const])),
  });
  health.addToServer(server);

  // Reflection describes the same .proto files the code was generated from, plus
  // the health service, so `grpcurl -plaintext host:6000 list` needs no files.
  const definitions = loadSync([...protoFiles(), healthProtoPath], {
    includeDirs: [PROTO_DIR],
    longs: String,
    keepCase: true,
  });
  new ReflectionService(definitions).addToServer(server);

  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const tlsInjector =
    options.tls === undefined ? undefined : server.createConnectionInjector(options.tls);
  const inbound =
    options.inbound === undefined
      ? undefined
      : new GrpcInboundGuard(
          options.inbound.limits ?? DEFAULT_GRPC_INBOUND_LIMITS,
          options.inbound.hooks,
        );
  // Both injectors' HTTP/2 servers exist now: every session they make is watched.
  inbound?.attach(http2ServersOf(server));
  const setAll = (s: 'SERVING' | 'NOT_SERVING'): void => {
    health.setStatus('', s);
    for (const name of SERVICE_NAMES) health.setStatus(name, s);
  };
  return {
    injector,
    tlsInjector,
    health,
    inbound,
    setServing: () => setAll('SERVING'),
    setNotServing: () => setAll('NOT_SERVING'),
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        inbound?.stop();
        const timer = setTimeout(() => {
          server.forceShutdown();
          injector.destroy();
          tlsInjector?.destroy();
          resolve();
        }, graceMs);
        injector.drain(graceMs);
        tlsInjector?.drain(graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          injector.destroy();
          tlsInjector?.destroy();
          resolve();
        });
      }),
  };
}
