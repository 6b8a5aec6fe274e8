import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../src/engine/events.js';
import { runTasks } from '../../../src/engine/run-tasks.js';
import type { Task } from '../../../src/engine/task.js';
import { refusal } from '../../../src/tasks/lib/refuse.js';
import { FakeTransport } from '../../../src/transport/fake.js';

/** Scripts run in a real local sh; only SSH is faked. */
const shTransport = () =>
  new FakeTransport('h', (script, stdin) => {
    const r = spawnSync('sh', ['-c', script], { input: stdin ?? '', encoding: 'utf8' });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  });

describe('runTasks: a refusal is data', () => {
  it('fails the task with its reason before any step runs or a dead-man switch is armed', async () => {
    const why = "the Docker swarm is pending: resolve it by hand; it's infra's rule";
    const t: Task<string> = {
      id: 'swarm',
      probe: 'echo pending',
      parse: (o) => o.trim(),
      diff: (s) => [{ summary: `swarm is ${s}`, kind: 'swarm-foreign' }],
      apply: (s) => [refusal(why.replace('pending', s))],
      rollback: () => 'true',
    };
    const transport = shTransport();
    const guard = {
      timeoutSec: 1,
      pathLabel: 'test',
      checkNewPath: async () => {
        throw new Error('must not be asked');
      },
    };
    const events: EngineEvent[] = [];
    const [r] = await runTasks('h', transport, [t], 'apply', (e) => events.push(e), guard);
    expect(r).toMatchObject({
      task: 'swarm',
      status: 'failed',
      error: 'refused (nothing was run)',
      stderr: why,
    });
    // One exec: the probe batch. No step, no systemd-run arming, no verify.
    expect(transport.calls.map((c) => c.script)).toEqual(['sh -s']);
  });
});
