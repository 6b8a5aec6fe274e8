import { shCmd, shq } from '../quote.js';
import { replPasswordPath } from './analytics-secrets.js';
import { PUBLICATION, REPL_ROLE, slotName } from './analytics-source-state.js';
import { ANALYTICS_DB, analyticsExec, analyticsPsqlArgv, sqlName } from './analytics-stack.js';

/**
 * What the analytics host's `replication` task (tasks/analytics-subscriber.ts) reads for one app:
 * the publisher as infra_analytics over the tailnet, then the subscriber, and its pure parser.
 */

/** The app's database here (also its foreign server's dbname and its schema in `analytics`). */
export const dbName = sqlName;
export const subName = (app: string) => `analytics_${sqlName(app)}`;
export const compose = [...analyticsExec(), '-T'];
export const anPsql = (db: string, extra: readonly string[] = []) => shCmd(analyticsPsqlArgv(db, extra));

export interface Publisher {
  app: string;
  /** The apps host's tailnet address and the app's port there. */
  address: string;
  port: number;
  /** The apps host's name (what a wait asks to apply). */
  host: string;
}

export interface SubscriberState {
  up: boolean;
  /** The app as infra_analytics sees it; null: unreachable or refused. */
  pub: {
    walLevel: string;
    publication: boolean;
    slot: string;
    tables: { name: string; published: boolean; columns: string[] }[];
  } | null;
  db: boolean;
  sub: { enabled: boolean; worker: boolean; errors: number; syncing: number } | null;
  tables: { name: string; subscribed: boolean; columns: string[] }[];
  /** The foreign tables of schema APP in `analytics`, with their columns. */
  foreign: { name: string; columns: string[] }[];
  /** Where the foreign server points (`-`: no server yet), and nightly copies left (APP_<stamp>). */
  server: string;
  copies: string[];
}

const cols = (v: string | undefined) => (v ? v.split(';') : []);
const COLS = `coalesce((select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ';' order by a.attnum) from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '')`;
const TABLES = `from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' and not c.relispartition`;

/** Probe of one app: the publisher over the tailnet as infra_analytics, then the subscriber. */
export function subscriberProbe(p: Publisher): string {
  const pub = `select 'pub', current_setting('wal_level'), exists (select 1 from pg_publication where pubname = '${PUBLICATION}'), coalesce((select coalesce(wal_status, '-') from pg_replication_slots where slot_name = '${slotName(p.app)}'), 'none');
select 'ptable', c.relname, exists (select 1 from pg_publication_tables t where t.pubname = '${PUBLICATION}' and t.schemaname = 'public' and t.tablename = c.relname), ${COLS} ${TABLES} and has_table_privilege(c.oid, 'select') order by 1;`;
  const sub = `select 'sub', s.subenabled, exists (select 1 from pg_stat_subscription w where w.subid = s.oid and w.pid is not null and w.relid is null), coalesce((select apply_error_count from pg_stat_subscription_stats t where t.subid = s.oid), 0), (select count(*) from pg_subscription_rel r where r.srsubid = s.oid and r.srsubstate <> 'r') from pg_subscription s where s.subname = '${subName(p.app)}';
select 'stable', c.relname, exists (select 1 from pg_subscription_rel r join pg_subscription s on s.oid = r.srsubid where r.srrelid = c.oid and s.subname = '${subName(p.app)}'), ${COLS} ${TABLES} order by 1;`;
  const a = dbName(p.app);
  const fdw = `select 'ftable', c.relname, ${COLS} from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '${a}' and c.relkind = 'f' order by 1;
select 'srv', coalesce((select substr(o, 8) from pg_foreign_server f, unnest(f.srvoptions) o where f.srvname = '${a}' and o like 'dbname=%'), '-');
select 'copy', datname from pg_database where datname ~ '^${a}_[0-9]{8}t[0-9]{6}z$' order by 1;`;
  const conn = `host=${p.address} port=${p.port} dbname=${p.app} user=${REPL_ROLE} connect_timeout=5`;
  return [
    `${anPsql('postgres', ['-c', 'select 1'])} >/dev/null 2>&1 && echo 'up|t'`,
    `PGPASSWORD="$(cat ${shq(replPasswordPath(p.app))} 2>/dev/null)" ${shCmd([...compose, '-e', 'PGPASSWORD', 'db', 'psql', conn, '-X', '-A', '-t', '-q', '-F', '|', '-v', 'ON_ERROR_STOP=1', '-f', '-'])} <<'INFRA_SQL' 2>/dev/null || true\n${pub}\nINFRA_SQL`,
    `${anPsql(dbName(p.app), ['-F', '|', '-f', '-'])} <<'INFRA_SQL' 2>/dev/null && echo 'db|t' || true\n${sub}\nINFRA_SQL`,
    `${anPsql(ANALYTICS_DB, ['-F', '|', '-f', '-'])} <<'INFRA_SQL' 2>/dev/null || true\n${fdw}\nINFRA_SQL`,
  ].join('\n');
}

export function parseSubscriber(out: string): SubscriberState {
  const s: SubscriberState = {
    up: false,
    pub: null,
    db: false,
    sub: null,
    tables: [],
    foreign: [],
    server: '-',
    copies: [],
  };
  for (const line of out.split('\n')) {
    const f = line.trim().split('|');
    if (f[0] === 'up') s.up = true;
    else if (f[0] === 'db') s.db = true;
    else if (f[0] === 'pub' && f.length === 4)
      s.pub = { walLevel: f[1]!, publication: f[2] === 't', slot: f[3]!, tables: [] };
    else if (f[0] === 'ptable' && f.length === 4)
      s.pub?.tables.push({ name: f[1]!, published: f[2] === 't', columns: cols(f[3]) });
    else if (f[0] === 'sub' && f.length === 5)
      s.sub = { enabled: f[1] === 't', worker: f[2] === 't', errors: Number(f[3]), syncing: Number(f[4]) };
    else if (f[0] === 'stable' && f.length === 4)
      s.tables.push({ name: f[1]!, subscribed: f[2] === 't', columns: cols(f[3]) });
    else if (f[0] === 'ftable' && f.length === 3) s.foreign.push({ name: f[1]!, columns: cols(f[2]) });
    else if (f[0] === 'srv' && f.length === 2) s.server = f[1]!;
    else if (f[0] === 'copy' && f.length === 2) s.copies.push(f[1]!);
  }
  return s;
}
