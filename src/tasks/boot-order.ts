import type { Task } from '../engine/task.js';
import { fileTask } from './file.js';
import type { FileState } from './lib/file.js';

/**
 * Boot order: what infra publishes on the tailnet address starts only once that address exists.
 *
 * tailscaled (upstream unit: Type=notify) reports READY when its LocalAPI listens, before it has
 * reached the coordination server and given tailscale0 its address; Docker (upstream and Debian
 * units: After=network-online.target, nothing about tailscaled) may start in that gap, and a
 * container publishing `100.x.y.z:5432` then fails to bind ("cannot assign requested address").
 * dockerd does not retry a restart-policy start that failed at boot, so the app's PostgreSQL
 * would stay down until someone runs `compose up`. Hence a drop-in: docker.service Wants and is
 * After tailscaled.service, and its ExecStartPre waits (bounded) for an IPv4 address on
 * tailscale0. The wait is `-`-prefixed: after WAIT_SEC Docker starts anyway, so the stacks that do
 * not need the tailnet still come up (and `check` reports the ones that could not bind).
 *
 * Not `net.ipv4.ip_nonlocal_bind=1`: it is host-wide (every daemon may then bind any address,
 * and a typo in an address binds silently instead of failing) and it cannot be set in the lab
 * (/proc/sys is read-only in its containers), so no test could prove it. docs/day-two.md.
 *
 * Alloy runs in a Docker stack (ordered by this drop-in); the backup services are
 * After=docker.service (src/tasks/backup-timer.ts); cloudflared gets the same drop-in, so the
 * tunnel's origins on the tailnet address answer from its first request.
 */
export const WAIT_SCRIPT = '/usr/local/lib/infra/wait-tailnet';
export const WAIT_SEC = 90;

export const WAIT_SCRIPT_CONTENT = `#!/bin/sh
# Installed by infra (src/tasks/boot-order.ts): waits, at most $1 seconds, until tailscale0 has an
# IPv4 address; exit 1 (and a line in the unit's journal) if it never comes.
limit=\${1:-${WAIT_SEC}}
end=$(( $(date +%s) + limit ))
while [ "$(date +%s)" -lt "$end" ]; do
  if ip -4 -o addr show dev tailscale0 2>/dev/null | grep -q ' inet '; then exit 0; fi
  sleep 0.5
done
echo "infra: tailscale0 has no IPv4 address after \${limit} s; starting anyway (ports published on the tailnet address will not bind)" >&2
exit 1
`;

/** A drop-in ordering UNIT after tailscaled and after tailscale0 has its address. */
export function afterTailnetDropIn(unit: string): string {
  return `# Installed by infra (src/tasks/boot-order.ts): start ${unit} only once tailscale0 has its
# address, whatever order systemd starts the units in at boot.
[Unit]
Wants=tailscaled.service
After=tailscaled.service

[Service]
ExecStartPre=-${WAIT_SCRIPT} ${WAIT_SEC}
`;
}

export const dropInPath = (unit: string) => `/etc/systemd/system/${unit}.d/10-infra-after-tailnet.conf`;

/**
 * The script and one drop-in per unit. A change only reloads systemd: the order matters at the
 * next start, and restarting Docker here would restart every container for nothing.
 */
export function bootOrderTasks(units: string[], after: string[]): Task<FileState>[] {
  const script = fileTask({ path: WAIT_SCRIPT, content: WAIT_SCRIPT_CONTENT, mode: '755' }, after);
  return [
    script,
    ...units.map((unit) =>
      fileTask(
        {
          path: dropInPath(unit),
          content: afterTailnetDropIn(unit),
          mode: '644',
          onChange: 'systemctl daemon-reload',
        },
        [...after, script.id],
      ),
    ),
  ];
}
