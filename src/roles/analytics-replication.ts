import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import type { AnalyticsSettings, Inventory } from '../inventory/types.js';
import { analyticsSecretsTask } from '../tasks/analytics-secrets.js';
import { analyticsSubscriberTask } from '../tasks/analytics-subscriber.js';
import type { Publisher } from '../tasks/analytics-subscriber-state.js';
import { unsubscribeTask } from '../tasks/analytics-unsubscribe.js';
import { pgPort } from '../tasks/postgres-app.js';

/**
 * The analytics host's part of `replication` and `direct` (docs/analytics.md (c), (e)); the apps
 * hosts' part is roles/app-pg.ts. replication: the passwords of each app's infra_analytics (their
 * verifiers learned for the apps hosts), then one subscription per app whose apps host is on the
 * tailnet. direct: the verifier of analytics_ro for the apps. Every mode: subscriptions the mode
 * does not use are dropped. `after`: the instance (roles, servers) in place.
 */
export function publishersOf(inv: Inventory, settings: AnalyticsSettings, given?: HostFacts): Publisher[] {
  const facts = factsOf(inv.stateDir, given);
  return settings.apps.flatMap((name) => {
    const app = inv.apps.find((a) => a.name === name);
    const known = app ? facts.of(app.host) : undefined;
    const address = known?.tailnetAddress;
    // Subscribed once its apps host set up the role with this host's verifier and published.
    const ready = known?.analyticsSources?.[name];
    const mine = facts.of(settings.host)?.analyticsVerifiers?.repl?.[name];
    if (!app || !address || !ready || ready !== mine) return [];
    const port = pgPort(
      name,
      inv.apps.filter((a) => a.host === app.host).map((a) => a.name),
    );
    return [{ app: name, host: app.host, address, port }];
  });
}

export function replicationModeTasks(
  inv: Inventory,
  settings: AnalyticsSettings,
  after: string[],
  facts?: HostFacts,
): AnyTask[] {
  const mode = settings.mode;
  const secrets =
    mode === 'replication' || mode === 'direct'
      ? [analyticsSecretsTask({ mode, apps: settings.apps }, after)]
      : [];
  const subs =
    mode === 'replication'
      ? publishersOf(inv, settings, facts).map((p) =>
          analyticsSubscriberTask(p, [...after, ...secrets.map((s) => s.id)]),
        )
      : [];
  const keep = mode === 'replication' ? settings.apps : [];
  return [...secrets, ...subs, unsubscribeTask(keep, after)];
}
