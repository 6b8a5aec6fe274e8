import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';

export interface ServiceState {
  enabled: string; // UnitFileState (as is-enabled says it): enabled, disabled, masked, static, not-found, …
  active: string; // ActiveState: active, inactive, failed, …
}

/** Pure: `systemctl show -p UnitFileState -p ActiveState` lines in (one systemctl start, not two). */
export function parseServiceProbe(stdout: string): ServiceState {
  const props = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return {
    enabled: props.get('UnitFileState') || 'not-found',
    active: props.get('ActiveState') || 'unknown',
  };
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

/** One `systemctl show` for every unit the host's tasks ask about, a blank line between units. */
const showUnits = (units: readonly string[]): string =>
  `systemctl show -p Names -p UnitFileState -p ActiveState ${units.map(shq).join(' ')}`;

/** awk, paragraph mode: the block of unit `u`, found by any of its names (ssh.service is sshd.service). */
const UNIT_BLOCK =
  'BEGIN { RS = "" } { for (i = 1; i <= NF; i++) { f = $i; sub(/^Names=/, "", f); if (f == u) { print; exit } } }';

/** A systemd unit enabled at boot and running now. */
export function serviceTask(unit: string, after: string[] = []): Task<ServiceState> {
  const u = shq(unit);
  return {
    id: `service:${unit}`,
    after,
    probe: `printf '%s\\n' "$infra_units" | awk -v u=${u} ${shq(UNIT_BLOCK)}`,
    reads: [{ name: 'infra_units', script: showUnits, args: [unit] }],
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
