import type { Role } from '../inventory/types.js';
import type { AppStatus, Disk, Facts, Security } from '../tasks/host-status.js';
import { humanSize } from '../tasks/pg-backup.js';

/** One host as `infra status` saw it; `--json` prints these as they are (docs/verbs.md). */
export interface HostStatus {
  name: string;
  role: Role;
  /** `ok`: nothing to flag; `warn`: see `warnings`; `unreachable`/`error`: see `error`. */
  status: 'ok' | 'warn' | 'unreachable' | 'error';
  error?: string;
  /** Which path answered: "tailnet 100.77.0.11" or "public 10.77.0.11". */
  via?: string;
  addresses: { public: string; tailnet?: string };
  facts?: Facts;
  security?: Security;
  disks?: Disk[];
  apps?: AppStatus[];
  stacks?: { name: string; healthy: boolean; problems: string[] }[];
  warnings: string[];
  durationMs: number;
  stats: { connections: number; execs: number };
}

/** Pure: what deserves the operator's attention on a host, one line each. */
export function warningsOf(h: HostStatus): string[] {
  const w: string[] = [];
  if (h.facts?.rebootRequired)
    w.push(
      `reboot required${h.facts.rebootPackages.length ? ` (${h.facts.rebootPackages.join(', ')})` : ''}`,
    );
  if (h.security?.packages.length)
    w.push(`${h.security.packages.length} security upgrade(s) pending: ${h.security.packages.join(' ')}`);
  for (const d of h.disks ?? [])
    if (d.warn) w.push(`disk ${d.path} ${d.usedPercent}% used (${humanSize(d.availableBytes)} free)`);
  for (const a of h.apps ?? []) {
    if (a.postgres.error) w.push(`app ${a.name}: PostgreSQL does not answer: ${a.postgres.error}`);
    if (!a.lastBackup) w.push(`app ${a.name}: no backup yet`);
    else if (a.lastBackup.stale) w.push(`app ${a.name}: last backup ${age(a.lastBackup.ageSec)} ago`);
  }
  for (const s of h.stacks ?? []) for (const p of s.problems) w.push(p);
  return w;
}

/** 1 when a host could not be read, 2 when something is flagged, 0 when all is well. */
export function statusExitCode(hosts: readonly HostStatus[]): number {
  if (hosts.some((h) => h.status === 'unreachable' || h.status === 'error')) return 1;
  return hosts.some((h) => h.status === 'warn') ? 2 : 0;
}

export function statusJson(hosts: readonly HostStatus[], diskWarnPercent: number) {
  const count = (s: HostStatus['status']) => hosts.filter((h) => h.status === s).length;
  return {
    version: 1 as const,
    mode: 'status' as const,
    diskWarnPercent,
    hosts,
    summary: {
      hosts: hosts.length,
      ok: count('ok'),
      warn: count('warn'),
      unreachable: count('unreachable'),
      error: count('error'),
    },
  };
}

export function age(sec: number): string {
  if (sec < 3600) return `${Math.max(0, Math.round(sec / 60))}m`;
  if (sec < 172800) return `${Math.round(sec / 3600)}h`;
  return `${Math.round(sec / 86400)}d`;
}

const row = (label: string, text: string) => `  ${label.padEnd(10)}${text}`;

/** Pure: the human table, one block per host, then the warnings. */
export function renderStatus(hosts: readonly HostStatus[], warnAt: number): string[] {
  const lines: string[] = [];
  for (const h of hosts) {
    const tailnet = h.addresses.tailnet ? `tailnet ${h.addresses.tailnet}` : 'not on the tailnet';
    lines.push(
      `${h.name}  ${h.role}  public ${h.addresses.public}  ${tailnet}${h.via ? `  (via ${h.via.split(' ')[0]})` : ''}`,
    );
    if (!h.facts) {
      lines.push(row(h.status, h.error ?? 'no answer'), '');
      continue;
    }
    const f = h.facts;
    lines.push(row('os', `${f.os}, kernel ${f.kernel}, up ${age(f.uptimeSec)}`));
    lines.push(
      row(
        'reboot',
        f.rebootRequired
          ? `REQUIRED${f.rebootPackages.length ? ` by ${f.rebootPackages.join(', ')}` : ''}`
          : 'not required',
      ),
    );
    const s = h.security!;
    const lists = s.listsAt ? ` (package lists ${age(Date.now() / 1000 - s.listsAt)} old)` : '';
    lines.push(
      row(
        'security',
        !s.known
          ? 'unknown (no apt)'
          : s.packages.length
            ? `${s.packages.length} pending: ${s.packages.join(' ')}${lists}`
            : `none pending${lists}`,
      ),
    );
    for (const d of h.disks ?? [])
      lines.push(
        row(
          'disk',
          `${d.path.padEnd(20)} ${String(d.usedPercent).padStart(3)}% of ${humanSize(d.sizeBytes)} (on ${d.mount})${d.warn ? `  WARN ≥ ${warnAt}%` : ''}`,
        ),
      );
    if (f.memory)
      lines.push(
        row(
          'memory',
          `${humanSize(f.memory.totalBytes - f.memory.availableBytes)} of ${humanSize(f.memory.totalBytes)} used (${f.memory.usedPercent}%)`,
        ),
      );
    for (const a of h.apps ?? []) {
      const pg = a.postgres.version
        ? `PostgreSQL ${a.postgres.version}`
        : `PostgreSQL ${a.postgres.want}: ${a.postgres.error}`;
      const size = a.databaseBytes !== undefined ? `, ${humanSize(a.databaseBytes)}` : '';
      const b = a.lastBackup
        ? `last backup ${age(a.lastBackup.ageSec)} ago${a.lastBackup.stale ? ' (STALE)' : ''}`
        : 'no backup yet';
      lines.push(row('app', `${a.name.padEnd(12)} ${pg}${size}, ${b}`));
    }
    for (const st of h.stacks ?? [])
      lines.push(
        row(
          'stack',
          `${st.name.padEnd(14)} ${st.healthy ? 'healthy' : `UNHEALTHY: ${st.problems.join('; ')}`}`,
        ),
      );
    for (const w of h.warnings) lines.push(`  ! ${w}`);
    lines.push('');
  }
  const bad = hosts.filter((h) => h.status !== 'ok').length;
  lines.push(
    bad ? `${bad} of ${hosts.length} host(s) need attention` : `${hosts.length} host(s), nothing to flag`,
  );
  return lines;
}
