import type { HostResult, Mode } from '../engine/events.js';

export type JsonHostStatus = 'in-sync' | 'drift' | 'changed' | 'unreachable' | 'error';

export interface JsonFinding {
  task: string;
  kind: string;
  message: string;
  expected: unknown;
  actual: unknown;
}

/** The stable `--json` document (version 1), documented in the README. */
export interface JsonReport {
  version: 1;
  mode: Mode;
  hosts: {
    name: string;
    status: JsonHostStatus;
    durationMs: number;
    error?: string;
    findings: JsonFinding[];
    changes: JsonFinding[];
    /** Said about the host but not drift (GlitchTip without mail); absent when none. */
    warnings?: string[];
    /** What the run cost on the wire for this host. */
    stats: { connections: number; execs: number };
  }[];
  summary: {
    hosts: number;
    inSync: number;
    drift: number;
    changed: number;
    unreachable: number;
    error: number;
  };
}

export function jsonReport(
  mode: Mode,
  results: HostResult[],
  warnings: Record<string, string[]> = {},
): JsonReport {
  const hosts = results.map((r) => {
    const status: JsonHostStatus = r.status === 'ok' ? 'in-sync' : r.status === 'failed' ? 'error' : r.status;
    const toFinding = (
      task: string,
      c: { kind: string; summary: string; expected?: unknown; actual?: unknown },
    ) => ({
      task,
      kind: c.kind,
      message: c.summary,
      expected: c.expected ?? null,
      actual: c.actual ?? null,
    });
    const findings = r.tasks.flatMap((t) => {
      if (t.status === 'failed' || t.status === 'skipped')
        return [{ task: t.task, kind: 'error', message: t.error ?? 'failed', expected: null, actual: null }];
      return t.status === 'drift' ? t.changes.map((c) => toFinding(t.task, c)) : [];
    });
    const changes = r.tasks
      .filter((t) => t.status === 'changed')
      .flatMap((t) => t.changes.map((c) => toFinding(t.task, c)));
    return {
      name: r.host,
      status,
      durationMs: r.durationMs,
      ...(r.error ? { error: r.error } : {}),
      findings,
      changes,
      ...(warnings[r.host]?.length ? { warnings: warnings[r.host] } : {}),
      stats: r.stats,
    };
  });
  const count = (s: JsonHostStatus) => hosts.filter((h) => h.status === s).length;
  return {
    version: 1,
    mode,
    hosts,
    summary: {
      hosts: hosts.length,
      inSync: count('in-sync'),
      drift: count('drift'),
      changed: count('changed'),
      unreachable: count('unreachable'),
      error: count('error'),
    },
  };
}

/** 0 in sync / success, 2 drift or pending changes, 1 anything failed or unreachable. */
export function exitCodeFor(mode: Mode, results: HostResult[]): number {
  if (results.some((r) => r.status === 'failed' || r.status === 'unreachable')) return 1;
  if (mode !== 'apply' && results.some((r) => r.status === 'drift')) return 2;
  return 0;
}
