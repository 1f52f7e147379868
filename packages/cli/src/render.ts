/** Plain-text tables for the reports (what `kubectl get` prints: aligned columns, no color). */
import type { Explanation, StatusReport } from './report.js';

/** Aligns rows into columns separated by three spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** "3m", "2h", "5d" since a number of seconds. */
export function age(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

/** The status report as text. */
export function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  out.push(
    `configuration: ${r.config === 'none' ? 'none (the controller is idle)' : r.config === 'both' ? 'ConfigMap and ironlb.io objects (merged)' : r.config === 'crds' ? 'ironlb.io objects' : 'legacy ConfigMap'}`,
  );
  if (r.problems.length > 0) out.push('', 'PROBLEMS', ...r.problems.map((p) => `  ${p}`));
  out.push('', 'POOLS');
  out.push(
    r.pools.length === 0
      ? '  (none)'
      : table(
          ['NAME', 'SOURCE', 'IPv4 USED', 'IPv4 FREE', 'IPv6 USED', 'IPv6 FREE', 'SERVICES', 'ANNOUNCED'],
          r.pools.map((p) => [p.name, p.source === 'crd' ? 'IPAddressPool' : 'ConfigMap', String(p.usedV4), p.freeV4, String(p.usedV6), p.freeV6, String(p.services), p.advertised]),
        ),
  );
  out.push('', 'SERVICES');
  out.push(
    r.services.length === 0
      ? '  (none)'
      : table(
          ['SERVICE', 'IPS', 'POOL', 'NODE', 'INTERFACES', 'SINCE', 'STATE'],
          r.services.map((s) => [
            s.service,
            s.ips.join(',') || '-',
            s.pool ?? '-',
            s.node ?? '-',
            s.node === undefined ? '-' : s.interfaces === null ? 'all' : s.interfaces.join(','),
            age(s.ageSeconds),
            s.state,
          ]),
        ),
  );
  out.push('', 'NODES');
  out.push(
    r.nodes.length === 0
      ? '  (none)'
      : table(
          ['NODE', 'READY', 'SPEAKER', 'ELIGIBLE', 'WHY NOT'],
          r.nodes.map((n) => [n.name, n.ready ? 'True' : 'False', n.speaker, n.eligible ? 'yes' : 'no', n.note || '-']),
        ),
  );
  if (r.notes.length > 0) out.push('', ...r.notes.map((n) => `note: ${n}`));
  return `${out.join('\n')}\n`;
}

/** The explanation as text. */
export function renderExplain(e: Explanation): string {
  const out = [`Service ${e.service}: ${e.verdict}`];
  if (e.ips.length > 0) out.push(`IPs: ${e.ips.join(', ')}${e.pool !== undefined ? ` (pool "${e.pool}")` : ''}`);
  out.push('', 'Why:', ...e.reasons.map((r) => `  - ${r}`));
  if (e.reported !== undefined)
    out.push('', `ServiceL2Status: node ${e.reported.node}, since ${e.reported.since}, interfaces ${e.reported.interfaces.length === 0 ? 'all' : e.reported.interfaces.join(', ')}`);
  if (e.decision !== undefined && e.decision.nodes.length > 0) {
    out.push(
      '',
      table(
        ['NODE', 'VERDICT'],
        e.decision.nodes.map((n) => [n.name, n.verdict]),
      ),
    );
  }
  if (e.events.length > 0) out.push('', 'Recent warnings:', ...e.events.map((x) => `  ${x}`));
  return `${out.join('\n')}\n`;
}
