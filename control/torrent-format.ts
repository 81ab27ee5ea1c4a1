/**
 * Output of `btctl torrent …`: tables and text for people, JSON for programs. Pure.
 */
import { table } from './format.js';
import type { TorrentInfo } from './torrent-client.js';

/** Bytes in IEC units: 0 B, 512 KiB, 3.2 GiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** Percentage of verified bytes, one decimal; 100.0 only when nothing is left. */
export function percent(t: TorrentInfo): string {
  if (t.metadataPending) return '-'; // a magnet link's size is not known yet
  if (t.totalBytes === 0 || t.left === 0) return '100.0%';
  return `${Math.min(99.9, (100 * t.verifiedBytes) / t.totalBytes).toFixed(1)}%`;
}

/** JSON form of a torrent (snake_case, like the rest of btctl's JSON). */
export function torrentJson(t: TorrentInfo): Record<string, unknown> {
  return {
    id: t.id,
    name: t.name,
    state: t.state,
    discovery: t.discovery,
    save_dir: t.saveDir,
    total_bytes: t.totalBytes,
    verified_bytes: t.verifiedBytes,
    left: t.left,
    pieces_verified: t.piecesVerified,
    piece_count: t.pieceCount,
    download_rate: t.downloadRate,
    upload_rate: t.uploadRate,
    downloaded: t.downloaded,
    uploaded: t.uploaded,
    peers: t.peers,
    known_peers: t.knownPeers,
    error: t.error,
    added_at: t.addedAt,
    completed_at: t.completedAt,
    provider_addr: t.providerAddr,
    metadata_pending: t.metadataPending,
  };
}

/** The table of `btctl torrent list`. */
export function torrentsTable(list: TorrentInfo[]): string {
  if (list.length === 0) return 'no torrents\n';
  return table(
    ['ID', 'NAME', 'STATE', 'DONE', 'SIZE', 'DOWN/s', 'UP/s', 'PEERS', 'DISCOVERY'],
    list.map((t) => [
      t.id.slice(0, 12),
      t.name.length > 40 ? t.name.slice(0, 39) + '…' : t.name,
      t.state,
      percent(t),
      bytes(t.totalBytes),
      bytes(t.downloadRate),
      bytes(t.uploadRate),
      String(t.peers),
      t.discovery,
    ]),
  );
}

/** The text of `btctl torrent show`. */
export function torrentText(t: TorrentInfo): string {
  const rows: [string, string][] = [
    ['id', t.id],
    ['name', t.name],
    ['state', t.state + (t.error ? ` (${t.error})` : '')],
    ...((t.metadataPending
      ? [
          ['progress', '- (fetching the metadata from peers)'],
          ['size', 'unknown until the metadata arrives'],
        ]
      : [
          ['progress', `${percent(t)} (${t.piecesVerified}/${t.pieceCount} pieces)`],
          ['size', `${bytes(t.totalBytes)} (${t.totalBytes} bytes, ${t.left} left)`],
        ]) as [string, string][]),
    ['rates', `down ${bytes(t.downloadRate)}/s, up ${bytes(t.uploadRate)}/s`],
    ['transferred', `down ${bytes(t.downloaded)}, up ${bytes(t.uploaded)}`],
    ['peers', `${t.peers} connected, ${t.knownPeers} known`],
    ['discovery', t.discovery],
    ['provider', t.providerAddr || '-'],
    ['save dir', t.saveDir],
    ['added', new Date(t.addedAt).toISOString()],
    ['completed', t.completedAt ? new Date(t.completedAt).toISOString() : '-'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + '\n';
}
