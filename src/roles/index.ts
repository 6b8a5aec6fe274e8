import type { AnyTask } from '../engine/task.js';
import { InfraError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import { appsTasks } from './apps.js';
import { backupRoleTasks } from './backups.js';
import { baseTasks } from './base.js';
import { bootstrapTasks } from './bootstrap.js';
import { gateTunnelRoutes, stackRoleTasks } from './control.js';
import { pitrRoleTasks } from './pitr.js';

/** Every task a host needs for its role, in no particular order (the engine orders by `after`). */
export function planHost(inv: Inventory, hostName: string): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (!host) throw new InfraError(`no host named ${hostName} in ${inv.file}`);
  const tasks = [...baseTasks(host), ...bootstrapTasks(inv, hostName)];
  const apps = appsTasks(inv, hostName, tasks);
  return gateTunnelRoutes([
    ...tasks,
    ...apps,
    ...stackRoleTasks(inv, hostName, tasks),
    ...backupRoleTasks(inv, hostName, tasks),
    ...pitrRoleTasks(inv, hostName, [...tasks, ...apps]),
  ]);
}
