// The part of bittorrent-tracker's server API that tools/peers/bittorrent-tracker.ts uses (the package ships no types).
declare module 'bittorrent-tracker/server' {
  import type { EventEmitter } from 'node:events';
  interface ServerOptions {
    http?: boolean;
    udp?: boolean;
    ws?: boolean;
    stats?: boolean;
    trustProxy?: boolean;
    /** Announce interval told to clients, ms. */
    interval?: number;
  }
  class Server extends EventEmitter {
    constructor(opts?: ServerOptions);
    listen(
      port: number,
      hostname: string | { http?: string; udp?: string; udp6?: string },
      onlistening?: () => void,
    ): void;
    close(cb?: () => void): void;
    http: { address(): { port: number } | string | null } | null;
    udp4: { address(): { port: number } } | null;
  }
  export default Server;
}
