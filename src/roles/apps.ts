import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import type { App, Inventory } from '../inventory/types.js';
import { backupFailureTask } from '../tasks/backup-failure.js';
import { backupFreshnessTask, backupScriptTask, backupTimerTasks } from '../tasks/backup-timer.js';
import { deployUserTask } from '../tasks/deploy-user.js';
import {
  appOrphansTask,
  pgMajorTask,
  pgPasswordTask,
  pgPort,
  postgresStackTask,
} from '../tasks/postgres-app.js';
import { type Foundation, idsOf } from './foundation.js';

/**
 * The apps of one host, each its own PostgreSQL stack with a password, a major, and backups;
 * and the stacks (what point-in-time recovery's sources wait for). They wait for the Docker
 * engine running and Tailscale up (a stack binds its port to the tailnet address read at probe
 * time), when the plan has them.
 */
export function appsRole(
  inv: Inventory,
  hostName: string,
  f: Foundation,
  facts?: HostFacts,
): { tasks: AnyTask[]; stacks: AnyTask[] } {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (host?.role !== 'apps') return { tasks: [], stacks: [] };
  const apps = inv.apps.filter((a) => a.host === hostName);
  const pre = idsOf(f.tailscale, f.docker);
  const script = backupScriptTask(pre);
  const plans = apps.map((a) => appTasks(a, apps, pre, script.id));
  return {
    tasks: [
      ...deployUserTasks(inv, pre, facts),
      script,
      appOrphansTask(
        apps.map((a) => a.name),
        pre,
      ),
      ...plans.flatMap((p) => p.tasks),
    ],
    stacks: plans.map((p) => p.stack),
  };
}

/**
 * Dokploy's deploy user, authorised with the key the control host's run learned from Dokploy,
 * from the control host's tailnet address only. Needs the docker group: after Docker.
 */
function deployUserTasks(inv: Inventory, pre: string[], given?: HostFacts): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control) return [];
  const facts = factsOf(inv.stateDir, given).of(control.name);
  return [
    deployUserTask(
      { control: control.name, publicKey: facts?.dokployPublicKey, from: facts?.tailnetAddress },
      pre,
    ),
  ];
}

/** The deploy user alone, for the control host's run when an apps host was set up before it. */
export const dokployDeployUserTasks = (inv: Inventory, facts?: HostFacts): AnyTask[] =>
  deployUserTasks(inv, [], facts);

/**
 * One app's tasks, and its stack among them; single-app plans (add-app, upgrade-pg) use it with
 * the host's other apps for ports.
 */
function appTasks(
  app: App,
  appsOnHost: readonly App[],
  pre: string[],
  scriptId: string,
): { tasks: AnyTask[]; stack: AnyTask } {
  const port = pgPort(
    app.name,
    appsOnHost.map((a) => a.name),
  );
  const pg = { name: app.name, major: app.postgres };
  const backups = { app: app.name, retentionDays: app.backupRetentionDays };
  const major = pgMajorTask(pg, pre);
  const password = pgPasswordTask(pg, [...pre, major.id]);
  const stack = postgresStackTask({ ...pg, port }, [...pre, major.id, password.id]);
  const timers = backupTimerTasks(backups, [scriptId]);
  const fresh = backupFreshnessTask(backups, [stack.id, scriptId]);
  const failed = backupFailureTask(backups, [fresh.id]);
  return { tasks: [major, password, stack, ...timers, fresh, failed], stack };
}

/** The plan for one app only (plus the shared backup script), and its stack. */
export function singleAppPlan(inv: Inventory, appName: string): { tasks: AnyTask[]; stack: AnyTask } {
  const app = inv.apps.find((a) => a.name === appName)!;
  const script = backupScriptTask([]);
  const own = appTasks(
    app,
    inv.apps.filter((a) => a.host === app.host),
    [],
    script.id,
  );
  return { tasks: [script, ...own.tasks], stack: own.stack };
}

/** What add-app and upgrade-pg converge: one app's tasks and the shared backup script. */
export const singleAppTasks = (inv: Inventory, appName: string): AnyTask[] =>
  singleAppPlan(inv, appName).tasks;
