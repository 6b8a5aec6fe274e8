import { readLearned } from '../engine/connect.js';
import type { AnyTask } from '../engine/task.js';
import type { App, Inventory } from '../inventory/types.js';
import { backupFailureTask } from '../tasks/backup-failure.js';
import { backupScriptTask, backupTimerTasks, freshnessTask } from '../tasks/backup-timer.js';
import { deployUserTask } from '../tasks/deploy-user.js';
import { majorTask, orphansTask, passwordTask, pgPort, postgresStackTask } from '../tasks/postgres-app.js';

/**
 * Tasks of other roles an app's stack waits for, when the plan has them: the Docker engine
 * running, and Tailscale up (the stack binds its port to the tailnet address read at probe time).
 */
const PREREQUISITE = /^(service:docker\.service|tailscale)$/;

/** The apps of one host, each its own PostgreSQL stack with a password, a major, and backups. */
export function appsTasks(inv: Inventory, hostName: string, others: readonly AnyTask[]): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (host?.role !== 'apps') return [];
  const apps = inv.apps.filter((a) => a.host === hostName);
  const pre = others.map((t) => t.id).filter((id) => PREREQUISITE.test(id));
  const script = backupScriptTask(pre);
  return [
    ...deployUserTasks(inv, pre),
    script,
    orphansTask(
      apps.map((a) => a.name),
      pre,
    ),
    ...apps.flatMap((a) => appTasks(a, apps, pre, script.id)),
  ];
}

/**
 * Dokploy's deploy user, authorised with the key the control host's run learned from Dokploy,
 * from the control host's tailnet address only. Needs the docker group: after Docker.
 */
function deployUserTasks(inv: Inventory, pre: string[]): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control) return [];
  const facts = readLearned(inv.stateDir)[control.name];
  return [deployUserTask(control.name, facts?.dokployPublicKey, facts?.tailnetAddress, pre)];
}

/** The deploy user alone, for the control host's run when an apps host was set up before it. */
export const dokployDeployUserTasks = (inv: Inventory): AnyTask[] => deployUserTasks(inv, []);

/** One app's tasks; `onlyApp` plans (add-app, upgrade-pg) use it with the host's other apps for ports. */
export function appTasks(app: App, appsOnHost: readonly App[], pre: string[], scriptId: string): AnyTask[] {
  const port = pgPort(
    app.name,
    appsOnHost.map((a) => a.name),
  );
  const major = majorTask(app.name, app.postgres, pre);
  const password = passwordTask(app.name, app.postgres, [...pre, major.id]);
  const stack = postgresStackTask({ name: app.name, major: app.postgres, port }, [
    ...pre,
    major.id,
    password.id,
  ]);
  const timers = backupTimerTasks(app.name, app.backupRetentionDays, [scriptId]);
  const fresh = freshnessTask(app.name, app.backupRetentionDays, [stack.id, scriptId]);
  const failed = backupFailureTask(app.name, app.backupRetentionDays, [fresh.id]);
  return [major, password, stack, ...timers, fresh, failed];
}

/** The plan for one app only (plus the shared backup script): what add-app converges. */
export function singleAppTasks(inv: Inventory, appName: string): AnyTask[] {
  const app = inv.apps.find((a) => a.name === appName)!;
  const script = backupScriptTask([]);
  return [
    script,
    ...appTasks(
      app,
      inv.apps.filter((a) => a.host === app.host),
      [],
      script.id,
    ),
  ];
}
