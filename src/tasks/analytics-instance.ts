import type { Change, Step, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import {
  ANALYTICS_DB,
  analyticsExec,
  analyticsPsqlArgv,
  FDW_ROLE,
  fdwPasswordFile,
  RO_ROLE,
  roPasswordFile,
  SUPERUSER,
  sqlName,
} from './analytics-stack.js';
import { type InstanceState, instanceProbe, parseInstance } from './analytics-state.js';
import { probeFields } from './lib/probe.js';

/**
 * The analytics instance's read-only layout (docs/analytics.md (e)), every mode: the roles
 * analytics_ro (consumers) and analytics_fdw (what the user mappings log in as), both
 * `default_transaction_read_only`; two pg_hba lines on top asking them for SCRAM (the image
 * trusts loopback, and postgres_fdw refuses a non-superuser's connection that used no password:
 * connection.c pgfdw_security_check, 16-18); `postgres_fdw` in `analytics`; and per included app
 * a foreign server (updatable/truncatable false: refuses writes whoever asks), user mappings for
 * analytics_ro and the superuser (IMPORT FOREIGN SCHEMA runs as it), a schema APP with USAGE and
 * SELECT for analytics_ro and default privileges for what the syncs import later. Where the
 * server points (`dbname`) is the mode's business (nightly swaps it), never this task's.
 */
const MARK = '# infra-analytics';
export const HBA_LINES = [
  `local all ${RO_ROLE},${FDW_ROLE} scram-sha-256 ${MARK}`,
  `host all ${RO_ROLE},${FDW_ROLE} all scram-sha-256 ${MARK}`,
];
/** The server options infra owns; `dbname` is set by the mode (placeholder: the app's name). */
const SERVER_OPTIONS = { host: '127.0.0.1', port: '5432', updatable: 'false', truncatable: 'false' };
const READ_ONLY = 'default_transaction_read_only=on';
const SAFE = /^[a-z][a-z0-9_]*$/;

function checkName(n: string): string {
  if (!SAFE.test(n)) throw new Error(`bad SQL name ${n}`);
  return n;
}

/** Pure: what differs, as findings of kinds analytics-role, -hba, -grants and -app-missing. */
export function diffInstance(apps: readonly string[], s: InstanceState): Change[] {
  if (!s.up) return []; // the stack's task reports a stopped PostgreSQL
  const out: Change[] = [];
  const role = (summary: string) => out.push({ summary, kind: 'analytics-role' });
  const grants = (summary: string) => out.push({ summary, kind: 'analytics-grants' });
  for (const r of [RO_ROLE, FDW_ROLE]) {
    const st = s.roles[r];
    if (!st) role(`create role ${r} (LOGIN, read-only by default)`);
    else if (!st.login || st.superuser || !st.config.includes(READ_ONLY))
      role(`set role ${r} to LOGIN NOSUPERUSER with ${READ_ONLY}`);
    else if (s.logins[r] === false) role(`set ${r}'s password from its file (the login with it fails)`);
  }
  if (s.hba.join('\n') !== HBA_LINES.join('\n'))
    out.push({
      summary: `ask ${RO_ROLE} and ${FDW_ROLE} for their passwords (pg_hba.conf, first lines)`,
      kind: 'analytics-hba',
      expected: HBA_LINES,
      actual: s.hba,
    });
  if (!s.fdw) grants(`create extension postgres_fdw in ${ANALYTICS_DB}`);
  for (const [db, p] of Object.entries(s.dbs)) {
    if (p.connect !== (db === ANALYTICS_DB) || p.temp)
      grants(
        `${RO_ROLE} may connect to ${ANALYTICS_DB} only, and create no temporary tables (database ${db})`,
      );
  }
  for (const app of apps.map(sqlName)) {
    const srv = s.servers[app];
    if (!srv) {
      out.push({
        summary: `create the foreign server and schema ${app} in ${ANALYTICS_DB}`,
        kind: 'analytics-app-missing',
      });
      continue;
    }
    const bad = Object.entries(SERVER_OPTIONS).filter(([k, v]) => srv.options[k] !== v);
    if (bad.length)
      grants(`set the foreign server ${app}'s options ${bad.map(([k, v]) => `${k} '${v}'`).join(', ')}`);
    if (srv.roUsage) grants(`revoke ${RO_ROLE}'s USAGE on the foreign server ${app}`);
    for (const user of [RO_ROLE, SUPERUSER]) {
      const m = s.maps[`${app}|${user}`];
      if (!m || m.user !== FDW_ROLE || !m.passwordOk)
        grants(`${m ? 'set' : 'create'} the user mapping of ${user} on ${app} (as ${FDW_ROLE})`);
    }
    if (s.schemas[app] !== true) grants(`create schema ${app}, USAGE for ${RO_ROLE}`);
    if (!(s.defacl[app] ?? '').split(',').includes(`${RO_ROLE}=r/${SUPERUSER}`))
      grants(`default privileges in schema ${app}: SELECT on new tables for ${RO_ROLE}`);
    const denied = Object.entries(s.tables).filter(([t, ok]) => t.startsWith(`${app}.`) && !ok);
    if (denied.length) grants(`grant SELECT to ${RO_ROLE} on ${denied.map(([t]) => t).join(', ')}`);
  }
  return out;
}

/** SQL of an apply, on stdin; the passwords are psql variables (`:'ro'`) set before it. */
export function instanceSql(apps: readonly string[]): string {
  const lines = [
    ...[RO_ROLE, FDW_ROLE].map(
      (r) =>
        `select 'create role ${r} login' where not exists (select 1 from pg_roles where rolname = '${r}') \\gexec`,
    ),
    `alter role ${RO_ROLE} with login nosuperuser nocreatedb nocreaterole noreplication password :'ro';`,
    `alter role ${FDW_ROLE} with login nosuperuser nocreatedb nocreaterole noreplication password :'fdw';`,
    `alter role ${RO_ROLE} set default_transaction_read_only = on;`,
    `alter role ${FDW_ROLE} set default_transaction_read_only = on;`,
    'create extension if not exists postgres_fdw;',
    // analytics_ro connects to `analytics` only; nobody but the superuser makes temporary tables.
    "select format('revoke connect, temporary on database %I from public', datname) from pg_database where datallowconn and datname <> 'analytics' \\gexec",
    `revoke connect, temporary on database ${ANALYTICS_DB} from public;`,
    `grant connect on database ${ANALYTICS_DB} to ${RO_ROLE};`,
  ];
  for (const app of apps.map((a) => checkName(sqlName(a)))) {
    const opts = Object.entries({ ...SERVER_OPTIONS, dbname: app });
    lines.push(
      `select format('create server %I foreign data wrapper postgres_fdw options (${opts.map(([k]) => `${k} %L`).join(', ')})', '${app}', ${opts.map(([, v]) => `'${v}'`).join(', ')}) where not exists (select 1 from pg_foreign_server where srvname = '${app}') \\gexec`,
      ...Object.entries(SERVER_OPTIONS).map(
        ([k, v]) =>
          `select format('alter server %I options (%s %I %L)', srvname, case when exists (select 1 from unnest(srvoptions) o where o like '${k}=%') then 'set' else 'add' end, '${k}', '${v}') from pg_foreign_server where srvname = '${app}' \\gexec`,
      ),
      `revoke usage on foreign server ${app} from ${RO_ROLE};`,
      ...[RO_ROLE, SUPERUSER].flatMap((u) => [
        `drop user mapping if exists for ${u} server ${app};`,
        `create user mapping for ${u} server ${app} options (user '${FDW_ROLE}', password :'fdw');`,
      ]),
      `create schema if not exists ${app};`,
      `grant usage on schema ${app} to ${RO_ROLE};`,
      `grant select on all tables in schema ${app} to ${RO_ROLE};`,
      `alter default privileges in schema ${app} grant select on tables to ${RO_ROLE};`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Shell: psql as the superuser in `analytics` reading SQL from stdin, the passwords set first. */
function sqlScript(): string {
  const psql = shCmd(analyticsPsqlArgv(ANALYTICS_DB, ['-f', '-']));
  return `{ printf '\\\\set ro %s\\n\\\\set fdw %s\\n' "$(cat ${shq(roPasswordFile)})" "$(cat ${shq(fdwPasswordFile)})"; cat; } | ${psql}`;
}

/** Shell: our lines first (first match wins), every other line kept as it was; then reload. */
export function analyticsHbaScript(hbaFile: string): string {
  const inner = `f="$1"; shift; { printf '%s\\n' "$@"; grep -v ${shq(`${MARK}$`)} "$f"; } > "$f.infra" && cat "$f.infra" > "$f" && rm -f "$f.infra"`;
  return `${shCmd([...analyticsExec(), '-T', '--user', 'postgres', 'db', 'sh', '-c', inner, 'sh', hbaFile, ...HBA_LINES])}`;
}

export function analyticsInstanceTask(apps: readonly string[], after: string[] = []): Task<InstanceState> {
  return {
    id: 'analytics:instance',
    after,
    ...probeFields(instanceProbe),
    parse: parseInstance,
    diff: (s) => diffInstance(apps, s),
    apply: (s, changes): Step[] => {
      const hba = changes.some((c) => c.kind === 'analytics-hba');
      const sql = changes.some((c) => c.kind !== 'analytics-hba');
      const reload = shCmd(analyticsPsqlArgv(ANALYTICS_DB, ['-c', 'select pg_reload_conf()']));
      return [
        ...(sql ? [{ script: sqlScript(), stdin: instanceSql(apps) }] : []),
        ...(hba ? [{ script: `${analyticsHbaScript(s.hbaFile)}\n${reload} >/dev/null` }] : []),
      ];
    },
  };
}
