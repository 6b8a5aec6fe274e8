import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';

export interface ServiceState {
  enabled: string; // systemctl is-enabled: enabled, disabled, masked, static, not-found, …
  active: string; // systemctl is-active: active, inactive, failed, …
}

export function parseServiceProbe(stdout: string): ServiceState {
  const [enabled = '', active = ''] = stdout.trim().split('\n');
  return { enabled: enabled.trim() || 'not-found', active: active.trim() || 'unknown' };
}

export function diffService(unit: string, s: ServiceState): Change[] {
  const changes: Change[] = [];
  if (!['enabled', 'static', 'alias', 'indirect', 'generated'].includes(s.enabled))
    changes.push({
      summary: `enable ${unit} (is ${s.enabled})`,
      kind: 'service-disabled',
      expected: 'enabled',
      actual: s.enabled,
    });
  if (s.active !== 'active')
    changes.push({
      summary: `start ${unit} (is ${s.active})`,
      kind: 'service-stopped',
      expected: 'active',
      actual: s.active,
    });
  return changes;
}

/** A systemd unit enabled at boot and running now. */
export function serviceTask(unit: string, after: string[] = []): Task<ServiceState> {
  const u = shq(unit);
  return {
    id: `service:${unit}`,
    after,
    probe: `systemctl is-enabled ${u} 2>/dev/null || true\nsystemctl is-active ${u} 2>/dev/null || true`,
    parse: parseServiceProbe,
    diff: (s) => diffService(unit, s),
    apply: (s) => [
      {
        script:
          s.enabled === 'masked'
            ? `systemctl unmask ${u} && systemctl enable --now ${u}`
            : `systemctl enable --now ${u}`,
      },
    ],
  };
}
