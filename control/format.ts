import type { AgentStatus, MemberInfo, Provider } from './client.js';
import type { ConvergenceReport } from './convergence.js';

/**
 * Output formatting for btctl, in one place: aligned tables for people, JSON for
 * programs. Pure: returns strings.
 */

/** Renders rows as a left-aligned table under a header. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A peer id for display: as text when printable ASCII, else hex. */
export function peerIdText(id: Buffer): string {
  if (id.length === 0) return '-';
  const s = id.toString('latin1');
  return /^[\x20-\x7e]+$/.test(s) ? s : id.toString('hex');
}

/** Milliseconds as a short age: 850ms, 12s, 3m, 2h. */
export function age(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 3_600_000)}h`;
}

/** JSON form of a provider. */
export function providerJson(p: Provider, now: number): Record<string, unknown> {
  return {
    addr: p.addr,
    peer_id: peerIdText(p.peerId),
    peer_id_hex: p.peerId.toString('hex'),
    left: p.left <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(p.left) : p.left.toString(),
    last_seen: p.lastSeen,
    age_ms: now - p.lastSeen,
    origin: p.origin,
  };
}

/** Human form of a lookup result. */
export function providersTable(providers: Provider[], now: number): string {
  if (providers.length === 0) return 'no providers\n';
  return table(
    ['ADDR', 'PEER ID', 'LEFT', 'AGE', 'ORIGIN'],
    providers.map((p) => [
      p.addr,
      peerIdText(p.peerId),
      p.left.toString(),
      age(now - p.lastSeen),
      p.origin || '-',
    ]),
  );
}

/** Human form of an agent's status. */
export function statusText(s: AgentStatus): string {
  return table(
    ['FIELD', 'VALUE'],
    [
      ['node id', s.nodeId],
      ['version', s.version],
      ['uptime', age(s.uptimeMs)],
      ['listen', s.listenAddr],
      ['advertise', s.advertiseAddr],
      ['info hashes', String(s.infoHashes)],
      ['providers', String(s.providers)],
      ['tombstones', String(s.tombstones)],
      ['ttl', age(s.ttlMs)],
      ['public key', s.publicKey || '-'],
      [
        'cluster',
        s.clusterKeyId ? `${s.clusterAuth} (key ${s.clusterKeyId})` : s.clusterAuth || '-',
      ],
      ...Object.entries(s.securityRefusals)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([reason, n]) => [`refused ${reason}`, String(n)]),
    ],
  );
}

/** Stable JSON text, one document, with a trailing newline. */
export function json(value: unknown): string {
  return (
    JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n'
  );
}

/** Human form of a member list, like `serf members`. */
export function membersTable(members: MemberInfo[], now: number): string {
  return table(
    ['NODE ID', 'ADDRESS', 'STATE', 'INCARNATION', 'LAST HEARD', 'SINCE'],
    members.map((m) => [
      m.isSelf ? `${m.nodeId} (self)` : m.nodeId,
      m.addr,
      m.state,
      m.incarnation.toString(),
      m.isSelf ? '-' : `${age(now - m.lastHeard)} ago`,
      age(now - m.stateSince),
    ]),
  );
}

/** JSON form of a member. */
export function memberJson(m: MemberInfo, now: number): Record<string, unknown> {
  return {
    node_id: m.nodeId,
    addr: m.addr,
    state: m.state,
    incarnation: m.incarnation.toString(),
    last_heard: m.lastHeard,
    last_heard_age_ms: now - m.lastHeard,
    state_since: m.stateSince,
    self: m.isSelf,
  };
}

/** Human form of a convergence report. */
export function convergenceText(r: ConvergenceReport): string {
  const rows = r.agents.map((a) => [
    a.nodeId,
    a.addr,
    a.status,
    a.root || '-',
    String(a.records),
    a.status === 'differs'
      ? `${a.differingBuckets} buckets, >=${a.differingRecords} records`
      : (a.error ?? '-'),
  ]);
  const head = table(['NODE ID', 'ADDRESS', 'STATUS', 'ROOT', 'RECORDS', 'DIFFERENCE'], rows);
  const verdict = r.converged
    ? `converged: all ${r.asked} alive members agree`
    : `not converged: ${r.agree}/${r.asked} alive members agree`;
  return `${head}${verdict}\n`;
}
