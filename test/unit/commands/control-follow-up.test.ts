import { describe, expect, it } from 'vitest';
import { mergeRerun } from '../../../src/commands/converge.js';
import type { HostResult, TaskResult } from '../../../src/engine/events.js';

const t = (task: string, status: TaskResult['status']): TaskResult => ({ task, status, changes: [] });
const result = (tasks: TaskResult[], status: HostResult['status']): HostResult => ({
  host: 'toucan',
  status,
  tasks,
  durationMs: 1000,
  stats: { connections: 1, execs: 2 },
});

describe("mergeRerun: the control host after its apps hosts got Dokploy's key", () => {
  it('replaces the re-run tasks in place and recomputes the host status', () => {
    const first = result(
      [t('ufw', 'changed'), t('stack:dokploy:reach', 'waiting'), t('tunnel', 'ok')],
      'pending',
    );
    const again = result([t('stack:dokploy:ssh-key', 'ok'), t('stack:dokploy:reach', 'ok')], 'ok');
    const merged = mergeRerun(first, again);
    expect(merged.tasks.map((x) => `${x.task}=${x.status}`)).toEqual([
      'ufw=changed',
      'stack:dokploy:reach=ok',
      'tunnel=ok',
    ]);
    expect(merged.status).toBe('changed');
    expect(merged.stats).toEqual({ connections: 2, execs: 4 });
    expect(merged.durationMs).toBe(2000);
  });

  it('a login check that still fails keeps the host waiting', () => {
    const first = result([t('stack:dokploy:reach', 'waiting')], 'pending');
    const merged = mergeRerun(first, result([t('stack:dokploy:reach', 'waiting')], 'pending'));
    expect(merged.status).toBe('pending');
  });
});
