import { describe, expect, it } from 'vitest';
import type { Guard } from '../../../src/engine/guard.js';
import { runTasks } from '../../../src/engine/run-tasks.js';
import type { Task } from '../../../src/engine/task.js';
import { FakeTransport } from '../../../src/transport/fake.js';

/**
 * The dead-man switch as the engine drives it, over a fake host that answers the probe batch
 * by running it in sh and records everything else: arming (systemd-run), firing, disarming.
 */
function host(stepCode: number) {
  return new FakeTransport('h', async (script, stdin) => {
    if (script === 'sh -s') {
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync('sh', ['-c', stdin ?? ''], { encoding: 'utf8' });
      return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
    }
    if (script === 'apply-step') return { code: stepCode, stdout: '', stderr: stepCode ? 'it broke' : '' };
    return { code: 0, stdout: '', stderr: '' };
  });
}

const firewall: Task<string> = {
  id: 'ufw',
  probe: 'echo off',
  parse: (o) => o.trim(),
  diff: (s) => (s === 'off' ? [{ summary: 'enable ufw', kind: 'disabled' }] : []),
  apply: () => [{ script: 'apply-step' }],
  rollback: (s) => `echo restore ${s}`,
};

const guard = (check: () => Promise<void>): Guard & { asked: number } => {
  const g = {
    timeoutSec: 0,
    pathLabel: 'tailnet 100.64.0.1',
    asked: 0,
    checkNewPath: async () => {
      g.asked++;
      await check();
    },
  };
  return g;
};

const kinds = (t: FakeTransport) =>
  t.calls.map((c) =>
    c.script === 'sh -s'
      ? 'probe'
      : c.script.includes('systemd-run')
        ? 'arm'
        : c.script.startsWith('systemctl start')
          ? 'fire'
          : c.script.startsWith('systemctl stop')
            ? 'disarm'
            : c.script,
  );

describe('the lockout guard', () => {
  it('is armed with the probed state’s rollback before the step, and fires when the step fails', async () => {
    const t = host(1);
    const g = guard(async () => {});
    const [r] = await runTasks('h', t, [firewall], 'apply', () => {}, g);
    expect(r).toMatchObject({ status: 'failed', error: 'step exited 1', stderr: 'it broke' });
    expect(kinds(t)).toEqual(['probe', 'arm', 'apply-step', 'fire']);
    expect(t.calls[1]!.stdin).toBe('echo restore off');
    expect(t.calls[1]!.script).toContain('--on-active=0');
    expect(t.calls[3]!.script).toBe(
      'systemctl start infra-deadman-ufw.service; systemctl stop infra-deadman-ufw.timer >/dev/null 2>&1; rm -f /run/infra/infra-deadman-ufw.sh',
    );
    expect(g.asked).toBe(0);
  });

  it('disarms only after a NEW connection over the remaining path is confirmed', async () => {
    const t = host(0);
    const g = guard(async () => {});
    const [r] = await runTasks('h', t, [firewall], 'apply', () => {}, g);
    expect(g.asked).toBe(1);
    expect(kinds(t).slice(0, 4)).toEqual(['probe', 'arm', 'apply-step', 'disarm']);
    expect(kinds(t)).not.toContain('fire');
    // The verifying probe still sees `off` (the fake host never changes): not idempotent, reported.
    expect(r!.status).toBe('failed');
  });

  it('leaves the switch armed when the new connection fails, and says the host rolled back', async () => {
    const t = host(0);
    const g = guard(async () => {
      throw new Error('connection refused');
    });
    const [r] = await runTasks('h', t, [firewall], 'apply', () => {}, g);
    expect(r).toMatchObject({
      status: 'failed',
      error:
        'lockout guard: a new SSH connection over tailnet 100.64.0.1 failed (connection refused); the host rolled the change back after 0s',
    });
    expect(kinds(t)).not.toContain('disarm');
    expect(kinds(t)).not.toContain('fire');
  }, 10_000);
});
