import type { Change, Task } from '../engine/task.js';
import {
  type AnalyticsSourceState,
  PUBLICATION,
  parseAnalyticsSource,
  psql,
  REPL_ROLE,
  RO_ROLE,
  slotName,
  sourceProbe,
} from './analytics-source-state.js';
import { sqlIdent } from './analytics-stack.js';
import { perApp } from './lib/parse.js';

/**
 * The analytics layer, the apps host's side (docs/analytics.md (c), (e)), in each app's PostgreSQL:
 * - `replication`: role `infra_analytics` REPLICATION LOGIN whose password is the analytics host's
 *   SCRAM verifier (stored as is: CREATE ROLE, 16-18; the apps host never holds the password),
 *   SELECT on every `public` table with a replica identity (its initial copy and `pg_dump -s` need
 *   it: "Logical Replication" → "Security"), and publication `infra_analytics FOR TABLE` an explicit
 *   list: the tables with a replica identity that the subscriber already has (learned from the
 *   analytics host), or all of them before the first subscription. A table published before the
 *   subscriber has it stalls the whole subscription (the proof's "orders row 5"): new tables wait
 *   for the analytics host's run that copies their schema.
 * - `direct`: role `analytics_ro` LOGIN (the analytics host's verifier), SELECT on `public`, default
 *   privileges FOR ROLE APP (the app's own role creates its tables), read-only by default and a
 *   60 s statement timeout.
 * - whatever the mode does not use is dropped: the publication, an inactive `analytics_APP` slot,
 *   the roles (their grants first: DROP OWNED BY). pg_hba lines: tasks/app-pg-hba.ts; wal_level and
 *   the slot cap: tasks/app-pg-settings.ts.
 */
export type SourceMode = 'replication' | 'direct' | 'none';

export interface AnalyticsSourceWant {
  app: string;
  mode: SourceMode;
  /** The analytics host's SCRAM verifier of this app's role (replication: infra_analytics; direct: analytics_ro). */
  verifier?: string;
  /** Tables the subscriber has (learned from the analytics host); undefined: no subscription yet. */
  subscribed?: readonly string[];
  lagThresholdSec: number;
}

/** `analytics_ro`'s settings, as pg_roles.rolconfig lists them (sorted). */
export const RO_CONFIG = 'default_transaction_read_only=on,statement_timeout=60s';

/** Pure: the tables the publication should list. */
export function wantPublished(w: AnalyticsSourceWant, s: AnalyticsSourceState): string[] {
  const ri = s.tables.filter((x) => x.identity).map((x) => x.name);
  if (!w.subscribed) return ri;
  const have = new Set(w.subscribed);
  return ri.filter((n) => have.has(n));
}

/** Kinds the apps host cannot end: the analytics host reads the slot. */
export const STATUS_KINDS = new Set(['analytics-slot-inactive', 'analytics-slot-over-cap', 'analytics-lag']);

const mib = (b: number) => `${(b / 1024 ** 2).toFixed(0)} MiB`;

/** Pure: configuration first, then the slot's state as PostgreSQL reports it. */
export function diffAnalyticsSource(w: AnalyticsSourceWant, s: AnalyticsSourceState): Change[] {
  if (!s.up) return [];
  const out: Change[] = [];
  const add = (kind: string, summary: string, expected?: unknown, actual?: unknown) =>
    out.push({ kind, summary, expected, actual });
  const repl = w.mode === 'replication';
  const direct = w.mode === 'direct';
  if (repl && s.replVerifier !== w.verifier)
    add(
      'analytics-role',
      `${s.replVerifier ? 'set' : 'create'} ${w.app}'s replication role ${REPL_ROLE} with the analytics host's verifier`,
    );
  if (!repl && s.replVerifier)
    add('analytics-role', `drop ${w.app}'s role ${REPL_ROLE} (mode ${w.mode} does not use it)`);
  if (direct && (s.roVerifier !== w.verifier || s.roConfig !== RO_CONFIG))
    add(
      'analytics-role',
      `${s.roVerifier ? 'set' : 'create'} ${w.app}'s read-only role ${RO_ROLE}`,
      RO_CONFIG,
      s.roConfig,
    );
  if (!direct && s.roVerifier)
    add('analytics-role', `drop ${w.app}'s role ${RO_ROLE} (mode ${w.mode} does not use it)`);
  const noRead = s.tables.filter((x) => (repl && x.identity && !x.replSelect) || (direct && !x.roSelect));
  if (noRead.length || (direct && !s.roDefaultAcl))
    add(
      'analytics-grants',
      `grant SELECT on ${w.app}'s tables to ${repl ? REPL_ROLE : RO_ROLE}`,
      undefined,
      noRead.map((x) => x.name),
    );
  const want = repl ? wantPublished(w, s) : [];
  const have = s.tables.filter((x) => x.published).map((x) => x.name);
  if (repl && !s.publication)
    add('analytics-publication', `create ${w.app}'s publication ${PUBLICATION} (${want.length} tables)`);
  else if (repl && want.join(',') !== have.join(','))
    add('analytics-publication', `publish ${w.app}'s tables ${want.join(', ') || '(none)'}`, want, have);
  if (!repl && s.publication)
    add('analytics-publication', `drop ${w.app}'s publication ${PUBLICATION} (mode ${w.mode})`);
  if (!repl && s.slot && !s.slot.active)
    add(
      'analytics-slot',
      `drop ${w.app}'s replication slot ${slotName(w.app)} (mode ${w.mode}; it would hold WAL)`,
    );
  if (repl && s.slot) {
    const left = s.slot.safeBytes === null ? '' : `, ${mib(s.slot.safeBytes)} more before the cap`;
    if (s.slot.walStatus === 'lost' || s.slot.walStatus === 'unreserved')
      add(
        'analytics-slot-over-cap',
        `the slot ${slotName(w.app)} of ${w.app} passed the cap (wal_status ${s.slot.walStatus}): the analytics copy needs a resync, which infra apply on the analytics host runs`,
        'reserved',
        s.slot.walStatus,
      );
    else if (!s.slot.active)
      add(
        'analytics-slot-inactive',
        `the analytics host is not reading ${w.app}'s slot ${slotName(w.app)}: ${mib(s.slot.retained)} held, under the cap (wal_status ${s.slot.walStatus}${left})`,
        'active',
        'inactive',
      );
    else if (s.lagSec !== null && s.lagSec > w.lagThresholdSec)
      add(
        'analytics-lag',
        `replication of ${w.app} to the analytics host lags ${s.lagSec.toFixed(0)} s (threshold ${w.lagThresholdSec} s)`,
        `<= ${w.lagThresholdSec}s`,
        `${s.lagSec}s`,
      );
  }
  return out;
}

/** Pure: warnings, not drift: tables the app must give a replica identity before they replicate. */
export function noIdentityWarnings(w: AnalyticsSourceWant, s: AnalyticsSourceState): string[] {
  if (w.mode !== 'replication' || !s.up) return [];
  return s.tables
    .filter((x) => !x.identity)
    .map(
      (x) =>
        `analytics-no-replica-identity: ${w.app}'s table public.${x.name} has no primary key or replica identity, so it is not replicated; fix in the app: ALTER TABLE public.${x.name} ADD PRIMARY KEY (…), or ALTER TABLE public.${x.name} REPLICA IDENTITY FULL`,
    );
}

const list = (names: readonly string[]) => names.map((n) => `public.${sqlIdent(n)}`).join(', ');
const create = (r: string, attrs: string) =>
  `select 'create role ${r} with ${attrs}' where not exists (select 1 from pg_roles where rolname = '${r}') \\gexec`;
const drop = (r: string) =>
  `select 'drop owned by ${r}' where exists (select 1 from pg_roles where rolname = '${r}') \\gexec\ndrop role if exists ${r};`;

/** Pure: the SQL of an apply, in order (on stdin: verifiers are not passwords, but no argv either). */
export function sourceSql(w: AnalyticsSourceWant, s: AnalyticsSourceState): string {
  const out: string[] = [];
  const repl = w.mode === 'replication';
  const direct = w.mode === 'direct';
  if (!repl && s.publication) out.push(`drop publication if exists ${PUBLICATION};`);
  if (!repl && s.slot && !s.slot.active)
    out.push(
      `select pg_drop_replication_slot('${slotName(w.app)}') from pg_replication_slots where slot_name = '${slotName(w.app)}' and not active;`,
    );
  if (!repl) out.push(drop(REPL_ROLE));
  if (!direct) out.push(drop(RO_ROLE));
  if (repl && w.verifier) {
    out.push(
      create(REPL_ROLE, 'replication login'),
      `alter role ${REPL_ROLE} with replication login password '${w.verifier}';`,
    );
    out.push(`grant usage on schema public to ${REPL_ROLE};`);
    const ri = s.tables.filter((x) => x.identity).map((x) => x.name);
    const other = s.tables.filter((x) => !x.identity).map((x) => x.name);
    if (ri.length) out.push(`grant select on ${list(ri)} to ${REPL_ROLE};`);
    if (other.length) out.push(`revoke select on ${list(other)} from ${REPL_ROLE};`);
    const want = wantPublished(w, s);
    if (!s.publication)
      out.push(`create publication ${PUBLICATION}${want.length ? ` for table ${list(want)}` : ''};`);
    else if (want.length) out.push(`alter publication ${PUBLICATION} set table ${list(want)};`);
    else {
      const have = s.tables.filter((x) => x.published).map((x) => x.name);
      if (have.length) out.push(`alter publication ${PUBLICATION} drop table ${list(have)};`);
    }
  }
  if (direct && w.verifier) {
    out.push(
      create(RO_ROLE, 'login'),
      `alter role ${RO_ROLE} with login nosuperuser nocreatedb nocreaterole noreplication password '${w.verifier}';`,
    );
    out.push(
      `alter role ${RO_ROLE} set default_transaction_read_only = on;`,
      `alter role ${RO_ROLE} set statement_timeout = '60s';`,
    );
    out.push(
      `grant usage on schema public to ${RO_ROLE};`,
      `grant select on all tables in schema public to ${RO_ROLE};`,
    );
    out.push(
      `alter default privileges for role current_user in schema public grant select on tables to ${RO_ROLE};`,
    );
  }
  return `${out.join('\n')}\n`;
}

export function analyticsSourceTask(
  o: { apps: readonly AnalyticsSourceWant[]; analyticsHost: string },
  after: string[] = [],
): Task<Record<string, AnalyticsSourceState>> {
  const down = parseAnalyticsSource('down');
  const of = (m: Record<string, AnalyticsSourceState>, app: string) => m[app] ?? down;
  const diffAll = (m: Record<string, AnalyticsSourceState>) =>
    o.apps.flatMap((w) => diffAnalyticsSource(w, of(m, w.app)));
  return {
    id: 'analytics-source',
    after,
    ...perApp(
      o.apps.map((w) => w.app),
      sourceProbe,
      parseAnalyticsSource,
    ),
    diff: diffAll,
    apply: (m) =>
      o.apps
        .filter((w) => diffAnalyticsSource(w, of(m, w.app)).some((c) => !STATUS_KINDS.has(c.kind)))
        .map((w) => ({
          script: `${psql(w.app, ['-f', '-'])} >/dev/null`,
          stdin: sourceSql(w, of(m, w.app)),
        })),
    warnings: (m) => o.apps.flatMap((w) => noIdentityWarnings(w, of(m, w.app))),
    // The apps ready for the analytics host: replication, to subscribe to (role with the current
    // verifier, publication); direct, for Metabase to connect to (analytics_ro with the current
    // verifier). It acts only on those, so its run before this one neither fails nor half-registers.
    learn: (m) => ({
      analyticsSources: Object.fromEntries(
        o.apps
          .filter((w) => {
            const s = of(m, w.app);
            if (!s.up || !w.verifier) return false;
            if (w.mode === 'direct') return s.roVerifier === w.verifier;
            return w.mode === 'replication' && s.replVerifier === w.verifier && s.publication;
          })
          .map((w) => [w.app, w.verifier!]),
      ),
    }),
    // Only the analytics host's subscription reads the slot: waiting for it, not failed here.
    wait: (m) => {
      const c = diffAll(m);
      return c.length && c.every((x) => STATUS_KINDS.has(x.kind))
        ? { on: o.analyticsHost, run: `infra apply ${o.analyticsHost}` }
        : undefined;
    },
  };
}
