import { defaultInventoryPath, loadInventory } from '../inventory/load.js';
import type { GlobalOptions } from './converge.js';

/** `infra inventory validate`: every problem at once, nothing run. */
export async function validate(g: GlobalOptions): Promise<number> {
  const inv = loadInventory(g.inventory ?? defaultInventoryPath(), { requireSecrets: true, lab: g.lab });
  process.stdout.write(`${inv.file}: ok — ${inv.hosts.length} hosts, ${inv.apps.length} apps\n`);
  return 0;
}
