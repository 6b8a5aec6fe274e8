import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import { InfraError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import { syncAfterCopies } from './analytics.js';
import { appPgTasks, type PlanOptions } from './app-pg.js';
import { appsRole } from './apps.js';
import { backupRoleTasks } from './backups.js';
import { basePackagesTask, baseTasks } from './base.js';
import { bootstrapRole } from './bootstrap.js';
import { gateTunnelRoutes, stackRoleTasks } from './control.js';
import type { Foundation } from './foundation.js';
import { pitrRoleTasks } from './pitr.js';

/** Every task a host needs for its role, in no particular order (the engine orders by `after`). */
/**
 * `facts`: what infra learned (tailnet addresses, keys), as the command loaded and updated it;
 * without it (a test, a one-off), read from `.infra/hosts.json`.
 */
export function planHost(
  inv: Inventory,
  hostName: string,
  given?: HostFacts,
  o: PlanOptions = {},
): AnyTask[] {
  const facts = factsOf(inv.stateDir, given);
  const host = inv.hosts.find((h) => h.name === hostName);
  if (!host) throw new InfraError(`no host named ${hostName} in ${inv.file}`);
  const basePackages = basePackagesTask(host);
  const bootstrap = bootstrapRole(inv, hostName, basePackages);
  // What the other roles wait for, by value (roles/foundation.ts).
  const f: Foundation = { basePackages, ...bootstrap.foundation };
  const apps = appsRole(inv, hostName, f, facts);
  const pg = appPgTasks(inv, host, apps.stacks, facts, o);
  return syncAfterCopies(
    gateTunnelRoutes([
      ...baseTasks(host, basePackages),
      ...bootstrap.tasks,
      ...apps.tasks,
      ...stackRoleTasks(inv, hostName, f, facts),
      ...backupRoleTasks(inv, hostName, f, facts),
      ...pg.tasks,
      ...pitrRoleTasks(inv, hostName, f, { appStacks: apps.stacks, facts, appPg: pg.ids }),
    ]),
  );
}
