import { shCmd } from '../quote.js';
import { RO_ROLE } from './analytics-stack.js';
import { psqlBatchArgv } from './postgres-app.js';

/**
 * What the apps host's `analytics-source` task (tasks/analytics-source.ts) reads in each app's
 * PostgreSQL: the two roles, the tables and their grants, the publication and the slot; and its
 * pure parser.
 */
export const REPL_ROLE = 'infra_analytics';

/** The analytics instance's read-only role; direct mode makes the same role on each app. */
export { RO_ROLE };
export const PUBLICATION = 'infra_analytics';
export const slotName = (app: string) => `analytics_${app.replaceAll('-', '_')}`;

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

export const psql = (app: string, extra: string[]) => shCmd(psqlBatchArgv(app, ['-q', ...extra]));
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
