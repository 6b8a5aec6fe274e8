import type { SharedRead } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import {
  ANALYTICS_DB,
  analyticsExec,
  FDW_ROLE,
  fdwPasswordFile,
  RO_ROLE,
  roPasswordFile,
  SUPERUSER,
} from './analytics-stack.js';

/**
 * What the analytics instance holds, read ONCE per probe batch (a shared read) by every analytics
 * task of the host: one `docker compose exec` running psql as the superuser, plus two logins with
 * the generated passwords (over TCP, where our pg_hba lines ask for SCRAM). The passwords reach the
 * container through the exec's environment, never argv, and never leave it: the probe prints
 * `ok`/`bad` for them, and for the user mappings' passwords the comparison of their md5 with the
 * file's is made inside the container too.
 */
const SQL = `select 'role|' || rolname || '|' || rolcanlogin || '|' || rolsuper || '|' || coalesce(array_to_string(rolconfig, ','), '') from pg_roles where rolname in ('${RO_ROLE}', '${FDW_ROLE}')
union all select 'hbafile|' || current_setting('hba_file')
union all select 'hba|' || array_to_string((regexp_split_to_array(pg_read_file(current_setting('hba_file')), E'\\n'))[1:2], ';;')
union all select 'ext|' || extname from pg_extension where extname = 'postgres_fdw'
union all select 'db|' || datname || '|' || coalesce((select has_database_privilege('${RO_ROLE}', d.oid, 'CONNECT') || '|' || has_database_privilege('${RO_ROLE}', d.oid, 'TEMPORARY') where exists (select 1 from pg_roles where rolname = '${RO_ROLE}')), '-|-') from pg_database d where datallowconn
union all select 'server|' || srvname || '|' || array_to_string(srvoptions, ',') || '|' || coalesce((select has_server_privilege('${RO_ROLE}', s.oid, 'USAGE')::text where exists (select 1 from pg_roles where rolname = '${RO_ROLE}')), '-') from pg_foreign_server s
union all select 'map|' || srvname || '|' || usename || '|' || coalesce((select substr(o, 6) from unnest(umoptions) o where o like 'user=%'), '') || '|' || coalesce(md5((select substr(o, 10) from unnest(umoptions) o where o like 'password=%')), '') from pg_user_mappings
union all select 'schema|' || nspname || '|' || coalesce((select has_schema_privilege('${RO_ROLE}', n.oid, 'USAGE')::text where exists (select 1 from pg_roles where rolname = '${RO_ROLE}')), '-') from pg_namespace n where nspname !~ '^pg_' and nspname not in ('information_schema', 'public')
union all select 'defacl|' || n.nspname || '|' || array_to_string(d.defaclacl, ',') from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace where d.defaclobjtype = 'r'
union all select 'table|' || n.nspname || '|' || c.relname || '|' || coalesce((select has_table_privilege('${RO_ROLE}', c.oid, 'SELECT')::text where exists (select 1 from pg_roles where rolname = '${RO_ROLE}')), '-') from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('f', 'r', 'v', 'm', 'p') and n.nspname !~ '^pg_' and n.nspname not in ('information_schema', 'public')`;

/** Inside the container: the catalog lines, the mappings' md5 compared, then the two logins. */
const INNER = [
  `h=$(printf %s "$FDW" | md5sum | cut -c1-32)`,
  `psql -U ${SUPERUSER} -d ${ANALYTICS_DB} -X -q -A -t -v ON_ERROR_STOP=1 -c ${shq(SQL)} | awk -F '|' -v h="$h" 'BEGIN { OFS = "|" } $1 == "map" { $5 = ($5 == h && h != "" ? "ok" : "bad") } { print }'`,
  'login() { out=$(PGPASSWORD="$2" psql -h 127.0.0.1 -U "$1" -d analytics -X -A -t -c "select 1" 2>&1); case "$out" in *"password authentication failed"*|*"no password"*) echo "login|$1|bad";; *) echo "login|$1|ok";; esac; }',
  `login ${RO_ROLE} "$RO"`,
  `login ${FDW_ROLE} "$FDW"`,
].join('\n');

export const ANALYTICS_STATE: SharedRead = {
  name: 'infra_analytics',
  script: `RO="$(cat ${shq(roPasswordFile)} 2>/dev/null)" FDW="$(cat ${shq(fdwPasswordFile)} 2>/dev/null)" ${shCmd(
    [...analyticsExec(), '-T', '-e', 'RO', '-e', 'FDW', 'db', 'sh', '-c', INNER],
  )} || echo down`,
};

export interface InstanceState {
  up: boolean;
  roles: Record<string, { login: boolean; superuser: boolean; config: string[] }>;
  logins: Record<string, boolean>;
  hbaFile: string;
  hba: string[];
  fdw: boolean;
  /** database -> analytics_ro's CONNECT and TEMPORARY. */
  dbs: Record<string, { connect: boolean; temp: boolean }>;
  /** foreign server -> its options and analytics_ro's USAGE on it. */
  servers: Record<string, { options: Record<string, string>; roUsage: boolean }>;
  /** `server|user` -> the remote user and whether its password matches the file. */
  maps: Record<string, { user: string; passwordOk: boolean }>;
  /** schema -> analytics_ro's USAGE. */
  schemas: Record<string, boolean>;
  /** schema -> its default ACL for tables. */
  defacl: Record<string, string>;
  /** `schema.table` -> analytics_ro's SELECT. */
  tables: Record<string, boolean>;
}

/** Pure: the shared read's lines (`down` when the stack is not running). */
export function parseInstance(out: string): InstanceState {
  const s: InstanceState = {
    up: false,
    roles: {},
    logins: {},
    hbaFile: '',
    hba: [],
    fdw: false,
    dbs: {},
    servers: {},
    maps: {},
    schemas: {},
    defacl: {},
    tables: {},
  };
  for (const line of out.split('\n')) {
    const f = line.trim().split('|');
    const t = f[0];
    if (t === 'hbafile') s.up = true;
    if (t === 'role')
      s.roles[f[1]!] = {
        login: f[2] === 'true',
        superuser: f[3] === 'true',
        config: f[4] ? f[4].split(',') : [],
      };
    else if (t === 'login') s.logins[f[1]!] = f[2] === 'ok';
    else if (t === 'hbafile') s.hbaFile = f[1] ?? '';
    else if (t === 'hba') s.hba = f.slice(1).join('|').split(';;');
    else if (t === 'ext') s.fdw = true;
    else if (t === 'db') s.dbs[f[1]!] = { connect: f[2] === 'true', temp: f[3] === 'true' };
    else if (t === 'server')
      s.servers[f[1]!] = {
        options: Object.fromEntries(
          (f[2] ?? '')
            .split(',')
            .filter(Boolean)
            .map((o) => [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)]),
        ),
        roUsage: f[3] === 'true',
      };
    else if (t === 'map') s.maps[`${f[1]}|${f[2]}`] = { user: f[3] ?? '', passwordOk: f[4] === 'ok' };
    else if (t === 'schema') s.schemas[f[1]!] = f[2] === 'true';
    else if (t === 'defacl') s.defacl[f[1]!] = f.slice(2).join('|');
    else if (t === 'table') s.tables[`${f[1]}.${f[2]}`] = f[3] === 'true';
  }
  return s;
}

/** The shared read's output, for a probe: the task's parse reads it back. */
export const instanceProbe = { script: `printf '%s\\n' "$infra_analytics"`, reads: [ANALYTICS_STATE] };
