import type { HostResult, Mode, TaskResult, TaskStatus } from '../engine/events.js';
import { countStatuses } from '../engine/events.js';
import { waitMessage } from '../engine/task.js';

export type JsonHostStatus = 'in-sync' | 'drift' | 'changed' | 'pending' | 'unreachable' | 'error';

export interface JsonFinding {
  task: string;
  kind: string;
  message: string;
  expected: unknown;
  actual: unknown;
  /** kind `skipped`: the failed or waiting task it was not run for. */
  cause?: string;
  /** kind `waiting`: the host it waits for. */
  waitingFor?: string;
  /** kind `waiting`: what the task found and waits to fix (the human report lists the same). */
  pending?: { kind: string; message: string }[];
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
    /** Tasks per status: failed, skipped and waiting are counted apart, never summed. */
    counts: Record<TaskStatus, number>;
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
    pending: number;
    unreachable: number;
    error: number;
  };
}

const toFinding = (
  task: string,
  c: { kind: string; summary: string; expected?: unknown; actual?: unknown },
): JsonFinding => ({
  task,
  kind: c.kind,
  message: c.summary,
  expected: c.expected ?? null,
  actual: c.actual ?? null,
});

/** What a task adds to `findings`: its drift, or why it did not converge (failed, skipped, waiting). */
function findingsOf(t: TaskResult): JsonFinding[] {
  const none = { task: t.task, expected: null, actual: null };
  if (t.status === 'failed') return [{ ...none, kind: 'error', message: t.error ?? 'failed' }];
  if (t.status === 'skipped')
    return [{ ...none, kind: 'skipped', message: t.error ?? 'not run', cause: t.cause }];
  if (t.status === 'waiting' && t.wait) {
    const pending = t.changes.map((c) => ({ kind: c.kind, message: c.summary }));
    const wait = { ...none, kind: 'waiting', message: waitMessage(t.wait), waitingFor: t.wait.on };
    return [pending.length ? { ...wait, pending } : wait];
  }
  return t.status === 'drift' ? t.changes.map((c) => toFinding(t.task, c)) : [];
}

export function jsonReport(
  mode: Mode,
  results: HostResult[],
  warnings: Record<string, string[]> = {},
): JsonReport {
  const hosts = results.map((r) => {
    const status: JsonHostStatus = r.status === 'ok' ? 'in-sync' : r.status === 'failed' ? 'error' : r.status;
    const findings = r.tasks.flatMap(findingsOf);
    const changes = r.tasks
      .filter((t) => t.status === 'changed')
      .flatMap((t) => t.changes.map((c) => toFinding(t.task, c)));
    return {
      name: r.host,
      status,
      durationMs: r.durationMs,
      ...(r.error ? { error: r.error } : {}),
      counts: countStatuses(r.tasks),
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
      pending: count('pending'),
      unreachable: count('unreachable'),
      error: count('error'),
    },
  };
}

/**
 * 0 in sync / success; 2 drift or pending changes (check, dry-run), or an apply that waits for
 * another host (pending); 1 anything failed or unreachable.
 */
export function exitCodeFor(mode: Mode, results: HostResult[]): number {
  if (results.some((r) => r.status === 'failed' || r.status === 'unreachable')) return 1;
  if (results.some((r) => r.status === 'pending')) return 2;
  if (mode !== 'apply' && results.some((r) => r.status === 'drift')) return 2;
  return 0;
}
