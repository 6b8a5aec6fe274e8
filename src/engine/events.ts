import type { Change, Facts } from './task.js';

export type Mode = 'apply' | 'plan' | 'check';
export type TaskStatus = 'ok' | 'changed' | 'drift' | 'failed' | 'skipped';
export type HostStatus = 'ok' | 'changed' | 'drift' | 'failed' | 'unreachable';

export interface TaskResult {
  task: string;
  status: TaskStatus;
  changes: Change[];
  error?: string;
  /** Last lines of stderr of the failing step. */
  stderr?: string;
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
  | { type: 'facts'; host: string; facts: Facts }
  | { type: 'host-done'; result: HostResult };

export type Emit = (event: EngineEvent) => void;

export function countStatuses(tasks: TaskResult[]): Record<TaskStatus, number> {
  const counts: Record<TaskStatus, number> = { ok: 0, changed: 0, drift: 0, failed: 0, skipped: 0 };
  for (const t of tasks) counts[t.status]++;
  return counts;
}

export function hostStatusOf(tasks: TaskResult[]): HostStatus {
  const c = countStatuses(tasks);
  if (c.failed > 0 || c.skipped > 0) return 'failed';
  if (c.drift > 0) return 'drift';
  if (c.changed > 0) return 'changed';
  return 'ok';
}
