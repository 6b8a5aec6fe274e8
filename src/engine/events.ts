import type { Change, Facts, Wait } from './task.js';

export type Mode = 'apply' | 'plan' | 'check';
/**
 * `skipped`: not run because a task it needs failed or waits (`cause` names that one);
 * `waiting`: needs something outside the host first (`wait`); neither is a failure of its own.
 */
export type TaskStatus = 'ok' | 'changed' | 'drift' | 'failed' | 'skipped' | 'waiting';
/** `pending`: nothing failed, but tasks wait (or were skipped for one that waits): exit 2. */
export type HostStatus = 'ok' | 'changed' | 'drift' | 'pending' | 'failed' | 'unreachable';

export interface TaskResult {
  task: string;
  status: TaskStatus;
  changes: Change[];
  error?: string;
  /** Last lines of stderr of the failing step. */
  stderr?: string;
  /** Skipped: the failed or waiting task it waits on (the root, not the skipped one between). */
  cause?: string;
  /** Waiting: for what, and what ends the wait. */
  wait?: Wait;
}

export interface HostResult {
  host: string;
  status: HostStatus;
  tasks: TaskResult[];
  durationMs: number;
  error?: string;
  hint?: string;
  /** What the run cost on the wire: connections opened and commands executed. */
  stats: { connections: number; execs: number };
}

/** Everything the engine tells the reporter; the reporter is the only one who prints. */
export type EngineEvent =
  | { type: 'host-start'; host: string }
  | { type: 'host-connected'; host: string; via: string; hostKeyRecorded?: string }
  | { type: 'task'; host: string; result: TaskResult }
  | { type: 'note'; host: string; message: string }
  /** A task's `warnings` of its first probe: not drift; the caller reports them with the recap. */
  | { type: 'warning'; host: string; message: string }
  | { type: 'facts'; host: string; facts: Facts }
  | { type: 'host-done'; result: HostResult };

export type Emit = (event: EngineEvent) => void;

export function countStatuses(tasks: TaskResult[]): Record<TaskStatus, number> {
  const counts: Record<TaskStatus, number> = {
    ok: 0,
    changed: 0,
    drift: 0,
    failed: 0,
    skipped: 0,
    waiting: 0,
  };
  for (const t of tasks) counts[t.status]++;
  return counts;
}

export function hostStatusOf(tasks: TaskResult[]): HostStatus {
  const c = countStatuses(tasks);
  if (c.failed > 0) return 'failed';
  if (c.drift > 0) return 'drift';
  // A skip's root is a failure or a wait; with no failure left, it waits.
  if (c.waiting > 0 || c.skipped > 0) return 'pending';
  if (c.changed > 0) return 'changed';
  return 'ok';
}
