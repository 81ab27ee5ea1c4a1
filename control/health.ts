import {
  loadPackageDefinition,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type Metadata,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

/** grpc.health.v1 serving status names. */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** The standard grpc.health.v1.Health client, as loaded from grpc-health-check's .proto. */
export interface HealthClient extends Client {
  check(
    request: { service: string },
    metadata: Metadata,
    options: CallOptions,
    callback: (err: ServiceError | null, res?: { status: HealthStatus }) => void,
  ): void;
}

type HealthClientConstructor = new (
  address: string,
  creds: ChannelCredentials,
  options?: ChannelOptions,
) => HealthClient;

let ctor: HealthClientConstructor | undefined;

/** Creates a grpc.health.v1 client (the .proto is loaded once, on first use). */
export function createHealthClient(
  address: string,
  creds: ChannelCredentials,
  options: ChannelOptions = {},
): HealthClient {
  if (ctor === undefined) {
    const pkg = loadPackageDefinition(
      loadSync(protoPath, { enums: String, defaults: true }),
    ) as unknown as {
      grpc: { health: { v1: { Health: HealthClientConstructor } } };
    };
    ctor = pkg.grpc.health.v1.Health;
  }
  return new ctor(address, creds, options);
}
