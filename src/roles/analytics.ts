import type { HostFacts } from '../engine/facts.js';
import type { AnyTask, Change, Task } from '../engine/task.js';
import type { AnalyticsSettings, Host, Inventory } from '../inventory/types.js';
import { analyticsInstanceTask } from '../tasks/analytics-instance.js';
import {
  analyticsSyncTask,
  SYNC_CONF,
  SYNC_SCRIPT,
  SYNC_SCRIPT_PATH,
  SYNC_UNIT,
  syncConf,
  syncServiceUnit,
  syncTimerUnit,
} from '../tasks/analytics-nightly.js';
import {
  ANALYTICS,
  ANALYTICS_DIR,
  analyticsSecrets,
  analyticsStack,
  sqlName,
} from '../tasks/analytics-stack.js';
import { type InstanceState, instanceProbe, parseInstance } from '../tasks/analytics-state.js';
import { composeStackTask } from '../tasks/compose-stack.js';
import { fileTask } from '../tasks/file.js';
import { hostSecretsTask } from '../tasks/host-secrets.js';
import { probeFields } from '../tasks/lib/probe.js';
import { metabaseSecrets } from '../tasks/metabase.js';
import { metabaseTasks, withMetabase } from './analytics-metabase.js';
import { replicationModeTasks } from './analytics-replication.js';
import { unitTasks } from './backups.js';

/**
 * The analytics layer on its host (docs/analytics.md): the instance every mode shares (secrets,
 * the `analytics` stack, roles, pg_hba, one foreign server and schema per included app), then the
 * mode's own part. Other modes and Metabase add theirs here, each in its own function below:
 * `replication` (subscriptions; its apps-host side is roles of the apps hosts), `direct` (no
 * copies) and Metabase (a service of this stack, tasks after `instance`).
 */
export interface AnalyticsBase {
  settings: AnalyticsSettings;
  /** The instance's tasks, in the plan. */
  tasks: AnyTask[];
  /** The stack (`stack:analytics`): PostgreSQL up and healthy. */
  stack: AnyTask;
  /** `analytics:instance`: roles, pg_hba, servers, schemas and grants in place. */
  instance: AnyTask;
}

/** Pure: foreign servers of apps no longer included; their data is kept until `infra analytics drop`. */
export function diffOrphans(apps: readonly string[], s: InstanceState): Change[] {
  if (!s.up) return [];
  const want = new Set(apps.map(sqlName));
  return Object.keys(s.servers)
    .filter((srv) => !want.has(srv))
    .sort()
    .map((srv) => ({
      summary: `${srv} is in the analytics layer but not in analytics.apps: its data is kept (remove it: infra analytics drop ${srv.replace(/_/g, '-')} --yes)`,
      kind: 'analytics-app-orphan',
      expected: null,
      actual: srv,
    }));
}

/** Reported, never applied: removing an app's data is the operator's explicit step. */
function orphansTask(apps: readonly string[], host: string, after: string[]): Task<InstanceState> {
  return {
    id: 'analytics:orphans',
    after,
    ...probeFields(instanceProbe),
    parse: parseInstance,
    diff: (s) => diffOrphans(apps, s),
    apply: () => [],
    wait: (s) => {
      const first = diffOrphans(apps, s)[0];
      return first
        ? {
            on: 'the operator',
            run: `infra analytics drop ${String(first.actual).replace(/_/g, '-')} --yes (on ${host})`,
          }
        : undefined;
    },
  };
}

function baseTasks(settings: AnalyticsSettings, pre: string[]): AnalyticsBase {
  // Metabase is a service of this stack in every mode (roles/analytics-metabase.ts).
  const stack = withMetabase(analyticsStack(settings.postgres), settings.postgres);
  const secrets = hostSecretsTask(
    {
      stack: ANALYTICS,
      dir: ANALYTICS_DIR,
      files: [...analyticsSecrets(settings.postgres), ...metabaseSecrets],
    },
    pre,
  );
  const compose = composeStackTask(stack, [...pre, secrets.id]);
  const instance = analyticsInstanceTask(settings.apps, [compose.id]);
  const orphans = orphansTask(settings.apps, settings.host, [instance.id]);
  return { settings, tasks: [secrets, compose, instance, orphans], stack: compose, instance };
}

/**
 * Every analytics task of `host` (none unless it is the analytics host). `pre`: Docker (and the
 * tailnet) up, as for the other stacks (roles/foundation.ts idsOf).
 */
export function analyticsTasks(inv: Inventory, host: Host, pre: string[], facts?: HostFacts): AnyTask[] {
  const settings = inv.analytics;
  if (!settings || settings.host !== host.name) return [];
  const base = baseTasks(settings, pre);
  return [
    ...base.tasks,
    ...modeTasks(inv, base, facts),
    ...metabaseTasks(inv, host, { stack: base.stack.id, instance: base.instance.id }, facts),
  ];
}

/** The mode's own part, after the instance; every mode drops the subscriptions it does not use. */
function modeTasks(inv: Inventory, base: AnalyticsBase, facts?: HostFacts): AnyTask[] {
  switch (base.settings.mode) {
    case 'nightly':
      return [
        ...nightlyTasks(base.settings, [base.instance.id]),
        ...replicationModeTasks(inv, base.settings, [base.instance.id], facts),
      ];
    case 'replication': // subscriptions here; publications on the apps hosts (roles/app-pg.ts)
    case 'direct': // read-only roles on the apps' PostgreSQL (roles/app-pg.ts); Metabase's data sources
      return replicationModeTasks(inv, base.settings, [base.instance.id], facts);
  }
}

/**
 * `nightly`: the sync script, its list and timer (at analytics.sync_time), and per app its copy
 * in the layer, which apply restores when missing, failed or stale (so one apply of a fresh layer
 * serves data as soon as the control host holds a copy).
 */
function nightlyTasks(s: AnalyticsSettings, after: string[]): AnyTask[] {
  const files = [
    fileTask({ path: SYNC_SCRIPT_PATH, content: SYNC_SCRIPT, mode: '755' }, []),
    fileTask({ path: SYNC_CONF, content: syncConf(s.apps), mode: '644' }, []),
  ];
  const units = unitTasks(SYNC_UNIT, syncServiceUnit, syncTimerUnit(s.syncTime), []);
  const ids = [...after, ...files.map((f) => f.id)];
  // The engine applies a host's tasks one after another: a sync holds two copies of one app at most.
  return [...files, ...units, ...s.apps.map((app) => analyticsSyncTask(app, ids))];
}

/**
 * Pure: on the control host, an app's sync waits for its copies task when the plan has it, so
 * one apply pulls a new dump first and restores it next.
 */
export function syncAfterCopies(tasks: AnyTask[]): AnyTask[] {
  const ids = new Set(tasks.map((t) => t.id));
  return tasks.map((t) => {
    const app = t.id.startsWith('analytics-sync:') ? t.id.slice('analytics-sync:'.length) : undefined;
    const copies = `backup-copies:${app}`;
    return app && ids.has(copies) ? { ...t, after: [...(t.after ?? []), copies] } : t;
  });
}

/** The analytics stack's secret files, for `infra secrets show HOST analytics`. */
export function analyticsSecretFiles(
  inv: Inventory,
  hostName: string,
): Record<string, { dir: string; files: string[] }> {
  const s = inv.analytics;
  if (!s || s.host !== hostName) return {};
  const files = [...analyticsSecrets(s.postgres), ...metabaseSecrets].map((f) => f.name);
  return { [ANALYTICS]: { dir: ANALYTICS_DIR, files } };
}
