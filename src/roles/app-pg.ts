import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import { DEFAULT_WAL_CAP } from '../inventory/schema.js';
import type { Host, Inventory } from '../inventory/types.js';
import { analyticsSourceTask, type SourceMode } from '../tasks/analytics-source.js';
import { REPL_ROLE, RO_ROLE } from '../tasks/analytics-source-state.js';
import { appHbaTask } from '../tasks/app-pg-hba.js';
import { appRestartTask, appSettingsTask } from '../tasks/app-pg-settings.js';
import { hbaLines as pitrHbaLines } from '../tasks/pitr-source.js';
import { idsOf } from './foundation.js';

/** Options of a run the plan needs: the operator's consent to restart an app's PostgreSQL. */
export interface PlanOptions {
  allowRestart?: boolean;
  /** This app of the host alone (a PITR restore onto a host must not wait on its other apps). */
  only?: string;
}

/** Pure: the analytics layer's pg_hba lines of one app (docs/analytics.md (c), (e)). */
export function analyticsHbaLines(app: string, mode: SourceMode, address: string): string[] {
  if (mode === 'replication')
    return [
      `host ${app} ${REPL_ROLE} ${address}/32 scram-sha-256`,
      `host all,replication ${REPL_ROLE} all reject`,
    ];
  if (mode === 'direct')
    return [`host ${app} ${RO_ROLE} ${address}/32 scram-sha-256`, `host all ${RO_ROLE} all reject`];
  return [];
}

/**
 * What infra sets in the PostgreSQL of an apps host's apps for point-in-time recovery and the
 * analytics layer together: one pg_hba block, one owner of the server settings, the restart for
 * wal_level, and the analytics roles and publication. Returns the ids PITR's source task waits for.
 */
export function appPgTasks(
  inv: Inventory,
  host: Host,
  appStacks: readonly AnyTask[],
  given?: HostFacts,
  o: PlanOptions = {},
): { tasks: AnyTask[]; ids: string[] } {
  if (host.role !== 'apps') return { tasks: [], ids: [] };
  const facts = factsOf(inv.stateDir, given);
  const apps = inv.apps.filter((a) => a.host === host.name && (!o.only || a.name === o.only));
  if (!apps.length) return { tasks: [], ids: [] };
  const control = inv.hosts.find((h) => h.role === 'control');
  const known = control ? facts.of(control.name) : undefined;
  const an = inv.analytics;
  const anFacts = an ? facts.of(an.host) : undefined;
  const anAddress = anFacts?.tailnetAddress;
  const pre = idsOf(...appStacks);
  const per = apps.map((a) => {
    const pitr =
      a.pitr && known?.tailnetAddress && known.pitrVerifiers?.[a.name] ? known.tailnetAddress : undefined;
    const included = an?.apps.includes(a.name) && (an.mode === 'replication' || an.mode === 'direct');
    const verifier =
      an?.mode === 'replication'
        ? anFacts?.analyticsVerifiers?.repl?.[a.name]
        : anFacts?.analyticsVerifiers?.ro;
    // Until the analytics host made its secret and joined the tailnet, nothing is set up for it.
    const mode: SourceMode = included && anAddress && verifier ? (an!.mode as SourceMode) : 'none';
    const lines = [...(pitr ? pitrHbaLines(pitr) : []), ...analyticsHbaLines(a.name, mode, anAddress ?? '')];
    const slot = !!pitr || mode === 'replication';
    return { a, mode, verifier, lines, slot, waiting: included && mode === 'none' };
  });
  const hba = appHbaTask(
    per.map((p) => ({ app: p.a.name, lines: p.lines })),
    pre,
  );
  const settings = appSettingsTask(
    per.map((p) => ({
      app: p.a.name,
      cap: p.slot ? (p.a.pitrWalCap ?? DEFAULT_WAL_CAP) : null,
      logical: p.mode === 'replication',
    })),
    pre,
  );
  const restarts = per
    .filter((p) => p.mode === 'replication')
    .map((p) =>
      appRestartTask({ app: p.a.name, host: host.name, allowRestart: !!o.allowRestart }, [settings.id]),
    );
  const source = analyticsSourceTask(
    {
      analyticsHost: an?.host ?? '',
      apps: per
        .filter((p) => !p.waiting)
        .map((p) => ({
          app: p.a.name,
          mode: p.mode,
          verifier: p.verifier,
          subscribed: anFacts?.analyticsTables?.[p.a.name],
          lagThresholdSec: an?.lagThresholdSec ?? 60,
        })),
    },
    [...pre, hba.id, ...restarts.map((r) => r.id)],
  );
  return { tasks: [hba, settings, ...restarts, source], ids: [hba.id, settings.id] };
}
