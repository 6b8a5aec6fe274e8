import type { Document } from 'yaml';
import type { AnyTask } from '../engine/task.js';
import { ANALYTICS, ANALYTICS_DIR } from './analytics-stack.js';
import type { SecretFile } from './host-secrets.js';
import { type HealthCheck, stackHealthTask } from './stack-health.js';
import { STACK_IMAGES } from './stack-images.js';
import { publish } from './stacks.js';

/**
 * Metabase in the analytics stack (docs/analytics.md (f)), pinned to metabase/metabase:v0.64.1.
 * Read against metabase/metabase (stored snapshots, docs/lab.md "The Metabase stand-in" lists
 * which): docs/configuring-metabase/environment-variables.md (MB_DB_TYPE defaults to "h2";
 * MB_DB_HOST/PORT/DBNAME/USER/PASS; MB_ENCRYPTION_SECRET_KEY; MB_ANON_TRACKING_ENABLED;
 * MB_CHECK_FOR_UPDATES; MB_JETTY_PORT, default 3000) and bin/docker/run_metabase.sh, whose
 * `docker_setup_env` reads a `_FILE` variant for MB_DB_USER, MB_DB_PASS, MB_DB_CONNECTION_URI
 * (and SMTP/LDAP) only — not for MB_ENCRYPTION_SECRET_KEY, which therefore comes from the
 * project's `.env` (a value-less `environment` entry is taken from it). Not `env_file:`: compose
 * 2.26 drops env_file after resolving it on `up` but keeps it for `config --hash`, so the
 * container's config hash never matched the file's and every run recreated Metabase.
 */
export const METABASE = 'metabase';
/** Inside the container (MB_JETTY_PORT's default, set explicitly). */
export const METABASE_CONTAINER_PORT = 3000;
/** On the host's loopback only: cloudflared beside it is its one way in; 3000 is Dokploy's. */
export const METABASE_PORT = 3030;
export const METABASE_URL = `http://127.0.0.1:${METABASE_PORT}`;
/** Metabase's application database and its role in the analytics instance. */
export const METABASE_DB = 'metabase';
export const METABASE_ROLE = 'metabase';
/** The one-shot service that creates that role and database before Metabase starts. */
export const METABASE_DB_INIT = 'metabase-db';

export const METABASE_DB_PASSWORD = 'metabase_db_password';
export const METABASE_ENCRYPTION_KEY = 'metabase_encryption_key';
/** Compose's project env file, carrying MB_ENCRYPTION_SECRET_KEY (no _FILE variant upstream). */
export const METABASE_ENV = '.env';
export const METABASE_ADMIN_PASSWORD = 'metabase_admin_password';

export const metabaseSecrets: SecretFile[] = [
  // run_metabase.sh reads MB_DB_PASS_FILE as root before it drops to its user; the one-shot as root.
  { name: METABASE_DB_PASSWORD, readBy: { image: STACK_IMAGES.metabase } },
  { name: METABASE_ENCRYPTION_KEY, readBy: { image: STACK_IMAGES.metabase } },
  // Read by compose itself on the host (the project's .env), never mounted.
  {
    name: METABASE_ENV,
    readBy: { image: STACK_IMAGES.metabase },
    from: { format: 'MB_ENCRYPTION_SECRET_KEY=%s\n', sources: [METABASE_ENCRYPTION_KEY] },
  },
  // The admin's password (metabase-admin.ts): read on the host only. Metabase's default
  // complexity wants a digit (util/password.clj, :normal), so one is guaranteed.
  { name: METABASE_ADMIN_PASSWORD, readBy: { image: STACK_IMAGES.metabase }, requireDigit: true },
];

export const metabaseHealth: HealthCheck[] = [
  { service: METABASE, port: METABASE_CONTAINER_PORT, path: '/api/health' },
];

/**
 * `GET /api/health` answers 503 {"status":"initializing"} until Metabase has migrated its
 * database (server/routes.clj), which takes minutes on a small host: a bounded wait of 240 s.
 */
export const METABASE_WAIT_SEC = 240;

/** Metabase's health: its own id and `metabase-unhealthy` findings, beside the stack's. */
export function metabaseHealthTask(after: string[]): AnyTask {
  const t = stackHealthTask(
    { project: ANALYTICS, checks: metabaseHealth, waitSec: METABASE_WAIT_SEC },
    after,
  );
  return {
    ...t,
    id: `stack:${ANALYTICS}:metabase-health`,
    diff: (st) => t.diff(st).map((c) => ({ ...c, kind: 'metabase-unhealthy' })),
  } as AnyTask;
}

/**
 * Shell run by the one-shot `metabase-db` (image: the analytics instance's PostgreSQL, for psql)
 * against `db` as its superuser: the role `metabase` with the generated password (set again on
 * every `up`, so a rewritten file wins), its database, not connectable by PUBLIC (so analytics_ro
 * cannot read Metabase's users or encrypted credentials). Passwords travel through psql's
 * backtick meta-command from the secret files, never argv. `$` is doubled for compose.
 */
export function metabaseDbInitScript(superuserPasswordSecret: string, superuser: string): string {
  const sql = [
    `\\set pw \`cat /run/secrets/${METABASE_DB_PASSWORD}\``,
    `SELECT format('CREATE ROLE ${METABASE_ROLE} LOGIN PASSWORD %L', :'pw') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${METABASE_ROLE}') \\gexec`,
    `SELECT format('ALTER ROLE ${METABASE_ROLE} PASSWORD %L', :'pw') \\gexec`,
    `SELECT 'CREATE DATABASE ${METABASE_DB} OWNER ${METABASE_ROLE}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${METABASE_DB}') \\gexec`,
    `REVOKE CONNECT, TEMPORARY ON DATABASE ${METABASE_DB} FROM PUBLIC;`,
    `GRANT CONNECT, TEMPORARY ON DATABASE ${METABASE_DB} TO ${METABASE_ROLE};`,
  ].join('\n');
  const sh = [
    'set -e',
    `export PGHOST=db PGUSER=${superuser} PGDATABASE=postgres`,
    `PGPASSWORD="$(cat /run/secrets/${superuserPasswordSecret})"; export PGPASSWORD`,
    'i=0; until pg_isready -q; do i=$((i+1)); [ $i -lt 120 ] || { echo "db is not ready" >&2; exit 1; }; sleep 1; done',
    `psql -X -q -v ON_ERROR_STOP=1 <<'SQL'\n${sql}\nSQL`,
  ].join('\n');
  return sh.replaceAll('$', () => '$$');
}

/** What the metabase service needs from the analytics stack it joins. */
export interface MetabaseStackContext {
  /** The analytics instance's image (postgres:N): the one-shot uses its psql. */
  postgresImage: string;
  /** The compose secret holding the instance's superuser password, and that superuser. */
  superuserPasswordSecret: string;
  superuser: string;
}

/**
 * Pure: adds `metabase-db` (one-shot) and `metabase` to the analytics compose document, with the
 * top-level secrets they mount (files in the stack directory, compose's `secrets: file:`).
 */
export function addMetabaseServices(doc: Document, ctx: MetabaseStackContext): void {
  doc.setIn(
    ['services', METABASE_DB_INIT],
    doc.createNode({
      image: ctx.postgresImage,
      restart: 'no',
      // db's healthcheck (pg_isready over TCP) passes only once its init has finished.
      depends_on: { db: { condition: 'service_healthy' } },
      entrypoint: ['sh', '-c', metabaseDbInitScript(ctx.superuserPasswordSecret, ctx.superuser)],
      secrets: [ctx.superuserPasswordSecret, METABASE_DB_PASSWORD],
    }),
  );
  doc.setIn(
    ['services', METABASE],
    doc.createNode({
      image: STACK_IMAGES.metabase,
      restart: 'unless-stopped',
      depends_on: { [METABASE_DB_INIT]: { condition: 'service_completed_successfully' } },
      environment: {
        // Never the embedded H2 (the default): its state would live in the container.
        MB_DB_TYPE: 'postgres',
        MB_DB_HOST: 'db',
        MB_DB_PORT: '5432',
        MB_DB_DBNAME: METABASE_DB,
        MB_DB_USER: METABASE_ROLE,
        MB_DB_PASS_FILE: `/run/secrets/${METABASE_DB_PASSWORD}`,
        MB_JETTY_PORT: String(METABASE_CONTAINER_PORT),
        // /api/setup turns anonymous tracking on (setup/api.clj); the environment wins over it.
        MB_ANON_TRACKING_ENABLED: 'false',
        MB_CHECK_FOR_UPDATES: 'false',
        // No value: compose takes it from the project's .env (METABASE_ENV), not this file.
        MB_ENCRYPTION_SECRET_KEY: null,
      },
      secrets: [METABASE_DB_PASSWORD],
      ports: [publish('127.0.0.1', METABASE_PORT, METABASE_CONTAINER_PORT)],
    }),
  );
  for (const name of [ctx.superuserPasswordSecret, METABASE_DB_PASSWORD])
    doc.setIn(['secrets', name], doc.createNode({ file: `./${name}` }));
}

export const metabaseDir = () => ANALYTICS_DIR;
