import { parseDocument } from 'yaml';
import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import type { Host, Inventory } from '../inventory/types.js';
import { ANALYTICS_DB, RO_ROLE, roPasswordFile, SUPERUSER } from '../tasks/analytics-stack.js';
import type { ComposeStack } from '../tasks/compose-stack.js';
import { composeText } from '../tasks/compose-stack.js';
import { addMetabaseServices, metabaseHealthTask } from '../tasks/metabase.js';
import { metabaseAdminTask } from '../tasks/metabase-admin.js';
import { metabaseSourcesTask, type SourceWant } from '../tasks/metabase-sources.js';
import { imageOf, pgPort } from '../tasks/postgres-app.js';

/**
 * Metabase on the analytics host (docs/analytics.md (f)): a service of the analytics stack, its
 * health, its admin (before any tunnel route reaches it: ROUTE_GATES, roles/control.ts), and the
 * data sources as the read-only role. Every mode has it; what it reads differs by mode.
 */

/** Pure: the analytics stack with Metabase's two services added to its rendered file. */
export function withMetabase(stack: ComposeStack, major: number): ComposeStack {
  return {
    ...stack,
    render: (vars) => {
      const doc = parseDocument(stack.render(vars));
      addMetabaseServices(doc, {
        postgresImage: imageOf(major),
        superuserPasswordSecret: 'pg_password',
        superuser: SUPERUSER,
      });
      return composeText(doc);
    },
  };
}

/**
 * Pure: the sources Metabase gets. nightly and replication: `analytics`, the instance's own
 * database through the stack's network (`db`). direct: one per included app, at the app's
 * PostgreSQL on its host's tailnet address (known once that host is bootstrapped), as the same
 * read-only role name in the app's database (its grants and pg_hba lines are the direct mode's).
 */
export function metabaseSources(inv: Inventory, facts?: HostFacts): SourceWant[] {
  const a = inv.analytics;
  if (!a) return [];
  if (a.mode !== 'direct')
    return [{ name: ANALYTICS_DB, host: 'db', port: 5432, dbname: ANALYTICS_DB, user: RO_ROLE }];
  const known = factsOf(inv.stateDir, facts);
  const roVerifier = known.of(a.host)?.analyticsVerifiers?.ro;
  return inv.apps
    .filter((app) => a.apps.includes(app.name))
    .flatMap((app) => {
      const address = known.of(app.host)?.tailnetAddress;
      if (!address) return [];
      // Registered once its apps host made analytics_ro with this host's verifier (learned).
      const ready = known.of(app.host)?.analyticsSources?.[app.name];
      const waitsFor = ready && ready === roVerifier ? undefined : app.host;
      const port = pgPort(
        app.name,
        inv.apps.filter((x) => x.host === app.host).map((x) => x.name),
      );
      return [
        {
          name: app.name,
          host: address,
          port,
          dbname: app.name,
          user: RO_ROLE,
          ...(waitsFor ? { waitsFor } : {}),
        },
      ];
    });
}

/** Metabase's tasks after the analytics stack (`stack`) and instance (`instance`: the roles). */
export function metabaseTasks(
  inv: Inventory,
  host: Host,
  deps: { stack: string; instance: string },
  facts?: HostFacts,
): AnyTask[] {
  const health = metabaseHealthTask([deps.stack]);
  const email = inv.analytics?.metabase.adminEmail;
  if (!email) {
    // Without an admin, infra makes none, registers nothing, and the inventory refuses a route to it.
    const why = `Metabase has no admin: set analytics.metabase.admin_email and infra creates it (then registers the data sources)`;
    return [{ ...health, warnings: () => [why] } as AnyTask];
  }
  const admin = metabaseAdminTask({ email, host: host.name, superuser: SUPERUSER }, [health.id]);
  const sources = metabaseSourcesTask(
    { email, passwordFile: roPasswordFile, sources: metabaseSources(inv, facts) },
    [admin.id, deps.instance],
  );
  return [health, admin, sources];
}

/**
 * An apps host's run ends with Metabase's data sources in `direct` (roles/control.ts
 * followUpTasks): the roles that run just made are registered in the same command, not the next.
 */
export function metabaseFollowUp(inv: Inventory, facts?: HostFacts): AnyTask[] {
  const email = inv.analytics?.metabase.adminEmail;
  if (inv.analytics?.mode !== 'direct' || !email) return [];
  return [metabaseSourcesTask({ email, passwordFile: roPasswordFile, sources: metabaseSources(inv, facts) })];
}
