import type { AnyTask } from './task.js';

/** Pure: tasks in dependency order (stable for independent ones); unknown ids and cycles are bugs. */
export function orderTasks(tasks: readonly AnyTask[]): AnyTask[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  if (byId.size !== tasks.length) throw new Error('duplicate task id in plan');
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: AnyTask[] = [];
  const visit = (t: AnyTask) => {
    if (done.has(t.id)) return;
    if (visiting.has(t.id)) throw new Error(`task dependency cycle through ${t.id}`);
    visiting.add(t.id);
    for (const dep of t.after ?? []) {
      const d = byId.get(dep);
      if (!d) throw new Error(`task ${t.id} depends on unknown task ${dep}`);
      visit(d);
    }
    visiting.delete(t.id);
    done.add(t.id);
    out.push(t);
  };
  for (const t of tasks) visit(t);
  return out;
}

/** Pure: every task that `id` depends on, directly or not. */
export function dependenciesOf(tasks: readonly AnyTask[], id: string): Set<string> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const out = new Set<string>();
  const walk = (tid: string) => {
    for (const dep of byId.get(tid)?.after ?? []) {
      if (!out.has(dep)) {
        out.add(dep);
        walk(dep);
      }
    }
  };
  walk(id);
  return out;
}
