import { InfraError } from '../errors.js';
import { defaultInventoryPath, loadInventory } from '../inventory/load.js';
import type { Host, Inventory } from '../inventory/types.js';
import { opensshFor, runOpenssh } from '../transport/openssh.js';
import type { GlobalOptions } from './converge.js';

export function findHost(inv: Inventory, name: string): Host {
  const host = inv.hosts.find((h) => h.name === name);
  if (!host)
    throw new InfraError(
      `no host named ${JSON.stringify(name)} in ${inv.file} (hosts: ${inv.hosts.map((h) => h.name).join(', ')})`,
    );
  return host;
}

/**
 * `infra ssh HOST [-- CMD…]`: the system's OpenSSH to HOST over the path infra uses, with
 * infra's pinned known_hosts (and, with --lab, the lab's key). Like `ssh`, the words of CMD are
 * joined by spaces and run by the remote user's shell; with no CMD, a login shell.
 */
export async function ssh(g: GlobalOptions, hostName: string, cmd: string[]): Promise<number> {
  const inv = loadInventory(g.inventory ?? defaultInventoryPath(), { requireSecrets: false, lab: g.lab });
  const host = findHost(inv, hostName);
  const remote = cmd.length ? cmd.join(' ') : undefined;
  // A command gets a terminal only when we have one (so `infra ssh h -- top` works, and a pipe stays a pipe).
  const tty = remote !== undefined && !!process.stdin.isTTY && !!process.stdout.isTTY;
  return runOpenssh(await opensshFor(inv, host, { tty, remote }));
}
