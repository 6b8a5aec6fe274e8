import type { Change, Task } from '../engine/task.js';
import { shCmd } from '../quote.js';
import { sqlIdent } from './analytics-stack.js';
import { perApp } from './lib/parse.js';
import { psqlBatchArgv } from './postgres-app.js';

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
export const REPL_ROLE = 'infra_analytics';
export const RO_ROLE = 'analytics_ro';
export const PUBLICATION = 'infra_analytics';
export const slotName = (app: string) => `analytics_${app.replaceAll('-', '_')}`;

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

export interface TableState {
  name: string;
  identity: boolean;
  published: boolean;
  replSelect: boolean;
  roSelect: boolean;
}

export interface AnalyticsSourceState {
  up: boolean;
  replVerifier: string | null;
  roVerifier: string | null;
  roConfig: string;
  roDefaultAcl: boolean;
  publication: boolean;
  tables: TableState[];
  slot: { active: boolean; walStatus: string; safeBytes: number | null; retained: number } | null;
  lagSec: number | null;
}

const role = (name: string, cond: string) =>
  `coalesce((select rolpassword from pg_authid where rolname = '${name}' and rolcanlogin and ${cond}), 'none')`;
const priv = (r: string) =>
  `case when exists (select 1 from pg_roles where rolname = '${r}') then has_table_privilege('${r}', c.oid, 'select') else false end`;

/** One line per fact, tagged; `|`-separated. */
const queries = (app: string) => [
  `select 'roles', ${role(REPL_ROLE, 'rolreplication')}, ${role(RO_ROLE, 'not rolreplication')},
 coalesce((select string_agg(x, ',' order by x) from pg_roles, unnest(rolconfig) x where rolname = '${RO_ROLE}'), ''),
 exists (select 1 from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace join pg_roles o on o.oid = d.defaclrole where n.nspname = 'public' and o.rolname = current_user and d.defaclobjtype = 'r' and array_to_string(d.defaclacl, ',') ~ '(^|,)${RO_ROLE}=r/'),
 exists (select 1 from pg_publication where pubname = '${PUBLICATION}')`,
  `select 'table', c.relname,
 c.relreplident = 'f' or (c.relreplident = 'i' and exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisreplident)) or (c.relreplident = 'd' and exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary)),
 exists (select 1 from pg_publication_tables p where p.pubname = '${PUBLICATION}' and p.schemaname = 'public' and p.tablename = c.relname),
 ${priv(REPL_ROLE)}, ${priv(RO_ROLE)}
from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' and not c.relispartition order by c.relname`,
  `select 'slot', case when active then 'active' else 'inactive' end, coalesce(wal_status, '-'), coalesce(safe_wal_size::text, '-'), coalesce((pg_current_wal_lsn() - restart_lsn)::bigint, 0),
 coalesce((select extract(epoch from coalesce(r.replay_lag, interval '0'))::numeric(12,1)::text from pg_stat_replication r where r.pid = s.active_pid), '-')
from pg_replication_slots s where slot_name = '${slotName(app)}'`,
];

const psql = (app: string, extra: string[]) => shCmd(psqlBatchArgv(app, ['-q', ...extra]));
export const sourceProbe = (app: string) =>
  `${psql(app, ['-F', '|', ...queries(app).flatMap((q) => ['-c', q])])} 2>/dev/null || echo down`;

const t = (v: string | undefined) => v === 't';

export function parseAnalyticsSource(out: string): AnalyticsSourceState {
  const s: AnalyticsSourceState = {
    up: false,
    replVerifier: null,
    roVerifier: null,
    roConfig: '',
    roDefaultAcl: false,
    publication: false,
    tables: [],
    slot: null,
    lagSec: null,
  };
  for (const line of out.split('\n')) {
    const f = line.trim().split('|');
    if (f[0] === 'roles' && f.length === 6) {
      s.up = true;
      s.replVerifier = f[1] === 'none' ? null : f[1]!;
      s.roVerifier = f[2] === 'none' ? null : f[2]!;
      s.roConfig = f[3]!;
      s.roDefaultAcl = t(f[4]);
      s.publication = t(f[5]);
    } else if (f[0] === 'table' && f.length === 6)
      s.tables.push({
        name: f[1]!,
        identity: t(f[2]),
        published: t(f[3]),
        replSelect: t(f[4]),
        roSelect: t(f[5]),
      });
    else if (f[0] === 'slot' && f.length === 6) {
      s.slot = {
        active: f[1] === 'active',
        walStatus: f[2]!,
        safeBytes: f[3] === '-' ? null : Number(f[3]),
        retained: Number(f[4]),
      };
      s.lagSec = f[5] === '-' ? null : Number(f[5]);
    }
  }
  return s;
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
