import type { Host, Inventory } from '../inventory/types.js';
import { tcpAnswers } from '../transport/tcp-probe.js';
import type { TaskResult } from './events.js';
import { factsOf, type HostFacts } from './facts.js';

/** Three SYNs at once (tcpAnswers): a lost one is covered, and a check does not wait 1.5 s on it. */
const PUBLIC_SSH_TIMEOUT_MS = 600;

/**
 * What only the outside can see: once a host is on the tailnet, its public SSH port must not
 * answer (the firewall allows SSH on tailscale0 only). Probed from the operator's machine, the
 * way an attacker would see it; skipped while the inventory itself opens port 22.
 */
export async function publicSshCheck(inv: Inventory, host: Host, facts?: HostFacts): Promise<TaskResult[]> {
  const onTailnet = factsOf(inv.stateDir, facts).of(host.name)?.tailnetAddress;
  const opensSsh = inv.firewall.allow.some((r) => r.port === host.ssh.port && !r.interface);
  if (!onTailnet || opensSsh) return [];
  const open = await tcpAnswers(host.address, host.ssh.port, PUBLIC_SSH_TIMEOUT_MS);
  return [
    {
      task: 'public-ssh',
      status: open ? 'drift' : 'ok',
      changes: open
        ? [
            {
              summary: `SSH answers on the public address ${host.address}:${host.ssh.port} (expected: tailnet only)`,
              kind: 'public-ssh-open',
              expected: 'closed',
              actual: 'open',
            },
          ]
        : [],
    },
  ];
}
