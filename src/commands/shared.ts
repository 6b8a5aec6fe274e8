import { InfraError } from '../errors.js';
import { defaultInventoryPath, loadInventory } from '../inventory/load.js';
import type { Host, Inventory } from '../inventory/types.js';
import { Redactor } from '../secrets.js';

/**
 * What every command repeats: the global options, the inventory file they name, the inventory
 * loaded from it, a host looked up by name (one clear line when there is none), the hosts a
 * command targets, and the redactor that knows the inventory's secrets. One copy each, here.
 */

export interface GlobalOptions {
  inventory?: string;
  lab?: boolean;
}

/** `-i FILE`, else $INFRA_INVENTORY, else ./inventory.yaml (inventory/load.ts). */
export const inventoryPath = (g: GlobalOptions): string => g.inventory ?? defaultInventoryPath();

/**
 * The inventory a command works on; `--lab` applies the lab overlay. Secrets are resolved only
 * when asked (apply, `inventory validate`): a read-only verb must not need them.
 */
export const loadFor = (g: GlobalOptions, requireSecrets = false): Inventory =>
  loadInventory(inventoryPath(g), { requireSecrets, lab: g.lab });

export function findHost(inv: Inventory, name: string): Host {
  const host = inv.hosts.find((h) => h.name === name);
  if (!host)
    throw new InfraError(
      `no host named ${JSON.stringify(name)} in ${inv.file} (hosts: ${inv.hosts.map((h) => h.name).join(', ')})`,
    );
  return host;
}

/** The names given, each checked against the inventory; none given: every host. */
export function selectHosts(inv: Inventory, names: string[]): string[] {
  const known = inv.hosts.map((h) => h.name);
  for (const n of names)
    if (!known.includes(n))
      throw new InfraError(`no host named ${n} in ${inv.file} (hosts: ${known.join(', ')})`);
  return names.length ? names : known;
}

export function redactorFor(inv: Inventory): Redactor {
  const r = new Redactor();
  for (const s of inv.secrets) r.add(s);
  return r;
}
