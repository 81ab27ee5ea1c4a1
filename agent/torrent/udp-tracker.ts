/**
 * BEP 15 UDP tracker client: connect (connection id cached for its minute), then
 * announce, each with retransmission until a deadline. Replies are accepted only from
 * the tracker's address with the transaction id we sent.
 */
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { TrackerError } from './errors.js';
import { MIN_INTERVAL_SEC, type AnnounceParams, type AnnounceResult } from './peer-source.js';
import {
  decodeResponse,
  encodeAnnounce,
  encodeConnect,
  parseUdpTrackerUrl,
  type UdpResponse,
} from './udp-tracker-codec.js';

/** BEP 15: a connection id may be used for one minute after it was received. */
const CONNECTION_ID_TTL_MS = 60_000;
/** First retransmission after this; doubled each time (BEP 15 uses 15 s·2^n; loopback and LAN trackers answer in milliseconds). */
const FIRST_RETRY_MS = 1000;

const randomU32 = (): number => randomBytes(4).readUInt32BE(0);

export class UdpTracker {
  private readonly connections = new Map<string, { id: bigint; until: number }>();
  /** Sent as BEP 15 `key`: the same for every announce of this client. */
  private readonly key = randomU32();

  constructor(private readonly timeoutMs = 15_000) {}

  /** One announce to `url` (`udp://host:port[/...]`). Throws TrackerError on failure. */
  async announce(url: string, p: AnnounceParams): Promise<AnnounceResult> {
    const { host, port } = parseUdpTrackerUrl(url);
    const address = isIP(host) !== 0 ? host : (await lookup(host)).address;
    const ipv6 = isIP(address) === 6;
    const socket = dgram.createSocket(ipv6 ? 'udp6' : 'udp4');
    socket.on('error', () => undefined); // surfaced through the exchange's timeout
    const deadline = Date.now() + this.timeoutMs;
    try {
      let conn = this.connections.get(url);
      if (conn === undefined || conn.until <= Date.now()) {
        const tid = randomU32();
        const r = await exchange(socket, address, port, encodeConnect(tid), tid, ipv6, deadline);
        if (r.action !== 'connect') throw unexpected(r);
        conn = { id: r.connectionId, until: Date.now() + CONNECTION_ID_TTL_MS };
        this.connections.set(url, conn);
      }
      const tid = randomU32();
      const req = encodeAnnounce({
        connectionId: conn.id,
        transactionId: tid,
        infoHash: p.infoHash,
        peerId: p.peerId,
        downloaded: p.downloaded,
        left: p.left,
        uploaded: p.uploaded,
        event: p.event,
        key: this.key,
        numwant: p.numwant,
        port: p.port,
      });
      const r = await exchange(socket, address, port, req, tid, ipv6, deadline);
      if (r.action !== 'announce') {
        // An error often means the connection id went stale: connect afresh next time.
        this.connections.delete(url);
        throw unexpected(r);
      }
      return { peers: r.peers, intervalSec: Math.max(MIN_INTERVAL_SEC, r.intervalSec) };
    } finally {
      socket.close();
    }
  }
}

function unexpected(r: UdpResponse): TrackerError {
  return new TrackerError(
    r.action === 'error' ? `tracker: ${r.message}` : `unexpected UDP tracker ${r.action} response`,
  );
}

/**
 * Sends `req` and waits for the reply with transaction id `tid` from host:port,
 * retransmitting after 1, 2, 4… s until `deadline`.
 */
function exchange(
  socket: dgram.Socket,
  host: string,
  port: number,
  req: Buffer,
  tid: number,
  ipv6: boolean,
  deadline: number,
): Promise<UdpResponse> {
  return new Promise((resolve, reject) => {
    let retry = FIRST_RETRY_MS;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | null, r?: UdpResponse): void => {
      clearTimeout(timer);
      socket.removeListener('message', onMessage);
      if (err !== null) reject(err);
      else resolve(r!);
    };
    const onMessage = (msg: Buffer, from: dgram.RemoteInfo): void => {
      if (from.port !== port || from.address !== host) return; // not our tracker
      let r: UdpResponse;
      try {
        r = decodeResponse(msg, ipv6);
      } catch (e) {
        finish(e as Error);
        return;
      }
      if (r.transactionId !== tid) return; // a late reply to an earlier attempt, or spoofed
      finish(null, r);
    };
    const send = (): void => {
      const left = deadline - Date.now();
      if (left <= 0) {
        finish(new TrackerError('UDP tracker timeout'));
        return;
      }
      socket.send(req, port, host);
      timer = setTimeout(send, Math.min(retry, left));
      retry *= 2;
    };
    socket.on('message', onMessage);
    send();
  });
}
