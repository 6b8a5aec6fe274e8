import type { Change, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import { replPasswordPath } from './analytics-secrets.js';
import { PUBLICATION, REPL_ROLE, slotName } from './analytics-source-state.js';
import { ANALYTICS_DB, FDW_ROLE, SUPERUSER, sqlIdent } from './analytics-stack.js';
import {
  anPsql,
  compose,
  dbName,
  type Publisher,
  parseSubscriber,
  type SubscriberState,
  subName,
  subscriberProbe,
} from './analytics-subscriber-state.js';

/**
 * `replication`, the analytics host's side (docs/analytics.md (c)): per app a database `APP` in the
 * analytics instance holding the app's `public` as is (replication matches tables by qualified
 * name and cannot rename), the published tables' schema copied from the app by `pg_dump -s` as
 * `infra_analytics` over the tailnet (DDL is not replicated), and `CREATE SUBSCRIPTION
 * analytics_APP`. The apps host publishes a table only once this side has it (learned:
 * `analyticsTables`), so the order of "Logical Replication" → "Restrictions" holds: schema first,
 * then publication, then REFRESH PUBLICATION. A lost slot (past the app's cap) is resynchronised.
 */

/** Pure: what this host does for the app, in order, and what it waits for on the apps host. */
export function planSubscriber(s: SubscriberState) {
  const mine = new Map(s.tables.map((t) => [t.name, t]));
  const pub = s.pub;
  const readable = pub?.tables ?? [];
  const newTables = readable.filter((t) => !mine.has(t.name)).map((t) => t.name);
  const newColumns = readable.flatMap((t) => {
    const have = new Set((mine.get(t.name)?.columns ?? []).map((c) => c.split(' ')[0]));
    return mine.has(t.name)
      ? t.columns.filter((c) => !have.has(c.split(' ')[0])).map((c) => ({ table: t.name, column: c }))
      : [];
  });
  const unpublished = readable.filter((t) => !t.published && mine.has(t.name)).map((t) => t.name);
  // Published and not in the subscription yet (also a table whose schema this run copies: the
  // apps host published everything before the first subscription of the app was learned).
  const refresh = !!s.sub && readable.some((t) => t.published && !mine.get(t.name)?.subscribed);
  // Only a slot PostgreSQL gave up (`lost`) or that is gone: an `unreserved` one may still catch up
  // before the next checkpoint (the apps host reports it, analytics-slot-over-cap).
  const resync = !!s.sub && !!pub && (pub.slot === 'lost' || pub.slot === 'none');
  const down = !!s.sub && !resync && (!s.sub.enabled || !s.sub.worker);
  const waitApp = !pub
    ? 'unreachable'
    : pub.walLevel !== 'logical'
      ? 'wal_level'
      : !pub.publication
        ? 'publication'
        : undefined;
  // analytics' foreign tables follow the subscriber's tables (columns by name and type).
  const foreign = new Map(s.foreign.map((t) => [t.name, t.columns.join(';')]));
  const widened = new Set(newColumns.map((c) => c.table));
  const reimport = s.tables
    .filter(
      (t) => foreign.has(t.name) && (widened.has(t.name) || foreign.get(t.name) !== t.columns.join(';')),
    )
    .map((t) => t.name);
  // A new table gets its foreign table after the schema copy, unless one exists (from nightly).
  const importNew = [...s.tables.map((t) => t.name), ...newTables].filter((n) => !foreign.has(n));
  return {
    newTables,
    newColumns,
    unpublished,
    refresh,
    resync,
    down,
    waitApp,
    importNew,
    reimport,
    create: !s.sub && !!pub && !waitApp,
  };
}

const repoint = (p: Publisher, s: SubscriberState) => s.server !== '-' && s.server !== dbName(p.app);

export function diffSubscriber(p: Publisher, s: SubscriberState): Change[] {
  if (!s.up) return [];
  const x = planSubscriber(s);
  const out: Change[] = [];
  const add = (kind: string, summary: string, actual?: unknown) => out.push({ kind, summary, actual });
  // Nothing is made here before the app can be subscribed: one finding, waiting for its host.
  if (!s.sub && x.waitApp)
    return [
      {
        kind: 'analytics-app-missing',
        summary: `${p.app} cannot be subscribed yet: ${x.waitApp === 'unreachable' ? `${p.host}'s PostgreSQL does not answer infra_analytics over the tailnet` : x.waitApp === 'wal_level' ? `its wal_level is ${s.pub!.walLevel}, not logical (a restart of ${p.app}'s PostgreSQL)` : 'it has no publication yet'}`,
      },
    ];
  if (!s.db || !s.sub)
    add('analytics-app-missing', `subscribe ${p.app} into the analytics database ${dbName(p.app)}`);
  // Tables copied here but not published yet are the apps host's finding (analytics-publication).
  if (x.newTables.length)
    add(
      'analytics-table-unpublished',
      `copy the schema of ${p.app}'s new tables ${x.newTables.join(', ')} (${p.host} publishes them next)`,
      x.newTables,
    );
  if (x.newColumns.length)
    add(
      'analytics-schema-differs',
      `add ${p.app}'s new columns here: ${x.newColumns.map((c) => `${c.table}.${c.column}`).join(', ')}`,
      x.newColumns,
    );
  if (x.refresh)
    add(
      'analytics-table-unpublished',
      `refresh the subscription of ${p.app} (its publication lists tables not copied yet)`,
    );
  if (x.resync)
    add(
      'analytics-slot-over-cap',
      `${p.app}'s slot ${slotName(p.app)} is ${s.pub!.slot === 'none' ? 'gone' : `invalidated (wal_status ${s.pub!.slot})`}: resynchronise ${p.app} (full copy)`,
      s.pub!.slot,
    );
  // From nightly: the copy keeps serving until the subscription has every row, then the server
  // points at the subscriber for good and the nightly copies go (docs/analytics.md "Switching modes").
  if (repoint(p, s))
    add(
      'analytics-app-missing',
      `point ${p.app}'s foreign server at the subscriber ${dbName(p.app)} (was ${s.server})`,
      s.server,
    );
  if (s.copies.length)
    add('analytics-old-copy', `drop ${p.app}'s nightly copies ${s.copies.join(', ')}`, s.copies);
  // (a new table's import is part of bringing it in, reported above)
  const imports = [...x.importNew.filter((n) => !x.newTables.includes(n)), ...x.reimport];
  if (s.db && imports.length)
    add(
      'analytics-schema-differs',
      `import ${p.app}'s tables ${imports.join(', ')} into ${ANALYTICS_DB}.${dbName(p.app)}`,
    );
  if (x.down)
    add(
      'analytics-subscription-down',
      `the subscription of ${p.app} is ${s.sub!.enabled ? 'without a worker' : 'disabled'} (${s.sub!.errors} apply errors)`,
    );
  return out;
}

/** Shell: pg_dump -s of these tables from the app as infra_analytics, into the subscriber's database. */
function schemaCopy(p: Publisher, tables: readonly string[]): string {
  const conn = `host=${p.address} port=${p.port} dbname=${p.app} user=${REPL_ROLE}`;
  const pipe = `pg_dump "$@" | psql -U ${SUPERUSER} -d "$DB" -v ON_ERROR_STOP=1 -X -q >/dev/null`;
  const args = [
    '-d',
    conn,
    '--schema-only',
    '--no-owner',
    '--no-acl',
    ...tables.flatMap((t) => ['-t', `public."${t}"`]),
  ];
  return `PGPASSWORD="$(cat ${shq(replPasswordPath(p.app))})" ${shCmd([...compose, '-e', 'PGPASSWORD', '-e', `DB=${dbName(p.app)}`, 'db', 'sh', '-c', pipe, 'sh', ...args])}`;
}

export function subscriberSteps(p: Publisher, s: SubscriberState) {
  const x = planSubscriber(s);
  const db = dbName(p.app);
  const steps: { script: string; stdin?: string; timeoutMs?: number }[] = [];
  const sql = (d: string, text: string) => steps.push({ script: anPsql(d, ['-f', '-']), stdin: text });
  if (!s.db) {
    steps.push({ script: `${anPsql('postgres', ['-c', `create database ${sqlIdent(db)}`])} >/dev/null` });
    // Only the user mappings' role reads the copy (docs/analytics.md (e)).
    sql(
      'postgres',
      `revoke connect, temporary on database ${sqlIdent(db)} from public;\ngrant connect on database ${sqlIdent(db)} to ${FDW_ROLE};`,
    );
    sql(
      db,
      `grant usage on schema public to ${FDW_ROLE};\nalter default privileges in schema public grant select on tables to ${FDW_ROLE};`,
    );
  }
  if (x.newTables.length) {
    steps.push({ script: schemaCopy(p, x.newTables), timeoutMs: 300_000 });
    sql(db, `grant select on all tables in schema public to ${FDW_ROLE};`);
  }
  if (x.newColumns.length)
    sql(
      db,
      x.newColumns
        .map(
          (c) =>
            `alter table public.${sqlIdent(c.table)} add column ${c.column.replace(/^(\S+)/, (m) => sqlIdent(m))};`,
        )
        .join('\n'),
    );
  if (x.resync) {
    sql(
      db,
      `alter subscription ${subName(p.app)} disable;\nalter subscription ${subName(p.app)} set (slot_name = none);\ndrop subscription ${subName(p.app)};`,
    );
    const names = s.tables.map((t) => `public.${sqlIdent(t.name)}`);
    if (names.length) sql(db, `truncate ${names.join(', ')};`);
    steps.push({ script: `${anPsql(db, ['-c', `select 1`])} >/dev/null; ${dropSlot(p)}` });
  }
  if (x.create || x.resync) {
    const conn = `host=${p.address} port=${p.port} dbname=${p.app} user=${REPL_ROLE} password=`;
    // The password is read here, on this host; it sits in pg_subscription.subconninfo (superusers only).
    steps.push({
      script: `pw=$(cat ${shq(replPasswordPath(p.app))}) && printf "create subscription ${subName(p.app)} connection '%s%s' publication ${PUBLICATION};\\n" ${shq(conn)} "$pw" | ${anPsql(db, ['-f', '-'])}`,
      timeoutMs: 120_000,
    });
  } else if (x.refresh) sql(db, `alter subscription ${subName(p.app)} refresh publication;`);
  else if (x.down && !s.sub!.enabled) sql(db, `alter subscription ${subName(p.app)} enable;`);
  // The launcher starts the apply worker within seconds (wal_retrieve_retry_interval, 5 s): wait
  // for it, so the run's own verification does not call a starting worker down.
  if (x.create || x.resync || x.down || repoint(p, s)) {
    // Moving the server waits for every table's initial copy too (srsubstate r), so the copy it
    // leaves serves until the subscriber holds every row.
    const ready = `select (select count(*) from pg_stat_subscription w join pg_subscription s on s.oid = w.subid where s.subname = '${subName(p.app)}' and w.pid is not null and w.relid is null)${repoint(p, s) ? ` + (select count(*) from pg_subscription_rel r join pg_subscription s on s.oid = r.srsubid where s.subname = '${subName(p.app)}' and r.srsubstate <> 'r')` : ''}`;
    steps.push({
      script: `for i in $(seq 1 300); do [ "$(${anPsql(db, ['-c', ready])})" = 1 ] && exit 0; sleep 1; done; echo ${shq(`the subscription of ${p.app} has no apply worker or has not copied every table after 300 s: see the analytics instance's log (docker compose -p analytics logs db)`)} >&2; exit 1`,
      timeoutMs: 330_000,
    });
  }
  if (repoint(p, s)) sql(ANALYTICS_DB, `alter server ${db} options (set dbname '${db}');`);
  for (const c of s.copies)
    steps.push({
      script: `${anPsql('postgres', ['-c', `select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '${c}'`])} >/dev/null; ${anPsql('postgres', ['-c', `drop database if exists ${sqlIdent(c)}`])}`,
    });
  // The tables the copy has now (after a schema copy: also the new ones), in `analytics`.
  const names = [...new Set([...x.importNew, ...x.reimport])];
  if (names.length) {
    const a = dbName(p.app);
    sql(
      ANALYTICS_DB,
      `set lock_timeout = '5s';\n${x.reimport.map((t) => `drop foreign table if exists ${a}.${sqlIdent(t)};`).join('\n')}\nimport foreign schema public limit to (${names.map(sqlIdent).join(', ')}) from server ${a} into ${a};`,
    );
  }
  return steps;
}

/** The slot a lost subscription left on the app, dropped over the tailnet (infra_analytics may: it has REPLICATION). */
function dropSlot(p: Publisher): string {
  const conn = `host=${p.address} port=${p.port} dbname=${p.app} user=${REPL_ROLE}`;
  return `PGPASSWORD="$(cat ${shq(replPasswordPath(p.app))})" ${shCmd([...compose, '-e', 'PGPASSWORD', 'db', 'psql', conn, '-X', '-q', '-c', `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = '${slotName(p.app)}' and not active`])} >/dev/null`;
}

/** One app's subscription; it learns the tables the subscriber has (the apps host publishes those). */
export function analyticsSubscriberTask(p: Publisher, after: string[]): Task<SubscriberState> {
  return {
    id: `analytics:${p.app}:subscription`,
    after,
    probe: subscriberProbe(p),
    parse: parseSubscriber,
    diff: (s) => diffSubscriber(p, s),
    apply: (s) => subscriberSteps(p, s),
    wait: (s) => {
      const d = diffSubscriber(p, s);
      return d.length && d.every((c) => /cannot be subscribed yet/.test(c.summary))
        ? {
            on: p.host,
            run: `infra apply ${p.host}${s.pub?.walLevel === 'logical' ? '' : ' --allow-restart'}`,
          }
        : undefined;
    },
    learn: (s) =>
      s.up ? { analyticsTables: { [p.app]: s.sub ? s.tables.map((t) => t.name) : undefined } } : {},
  } as Task<SubscriberState>;
}
