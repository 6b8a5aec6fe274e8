import type { ComposeStack } from './compose-stack.js';
import { composeText } from './compose-stack.js';
import type { SecretFile } from './host-secrets.js';
import { dataMount, imageOf } from './postgres-app.js';
import { loadTemplate, stackDir } from './stacks.js';

/**
 * The analytics instance (docs/analytics.md, "The analytics instance"): compose project
 * `analytics`, service `db`, postgres:<analytics.postgres>, volume analytics-pg<major>, no
 * published port. Its secrets are generated on the host, 0600 in the stack's directory: the
 * superuser's (the image's POSTGRES_PASSWORD_FILE), the read-only consumers' role's and the role
 * the foreign servers' user mappings log in as.
 */
export const ANALYTICS = 'analytics';
export const ANALYTICS_DIR = stackDir(ANALYTICS);
export const ANALYTICS_DB = 'analytics';
/** The image's superuser (POSTGRES_USER): infra's, through `docker compose exec` only. */
export const SUPERUSER = 'analytics';
/** Consumers (analysts, Metabase): SELECT on every app's schema in `analytics`, nothing else. */
export const RO_ROLE = 'analytics_ro';
/** The role the user mappings log in as on the copies: SELECT on their `public`, nothing else. */
export const FDW_ROLE = 'analytics_fdw';
export const RO_PASSWORD = 'ro_password';
export const FDW_PASSWORD = 'fdw_password';
export const roPasswordFile = `${ANALYTICS_DIR}/${RO_PASSWORD}`;
export const fdwPasswordFile = `${ANALYTICS_DIR}/${FDW_PASSWORD}`;

export const analyticsSecrets = (major: number): SecretFile[] =>
  ['pg_password', RO_PASSWORD, FDW_PASSWORD].map((name) => ({
    name,
    readBy: { image: imageOf(major), user: 'postgres' },
  }));

/**
 * Pure: an app's name in the analytics instance (its foreign server and schema; the prefix of its
 * copies' databases): `-` mapped to `_`, injective since app names have no `_`, so analysts never
 * quote (`my_app.orders`).
 */
export const sqlName = (app: string) => app.replace(/-/g, '_');

/** A name an app's schema chose (a table), as a quoted SQL identifier: `"` doubled. */
export const sqlIdent = (n: string) => `"${n.replaceAll('"', '""')}"`;

/** Pure: the rendered compose file. */
export function renderAnalyticsCompose(major: number): string {
  const doc = loadTemplate(ANALYTICS);
  doc.setIn(['services', 'db', 'image'], imageOf(major));
  doc.setIn(['services', 'db', 'volumes', 0, 'target'], dataMount(major));
  doc.setIn(['services', 'db', 'labels', 'io.infra.pg-major'], String(major));
  doc.setIn(['volumes', 'pgdata', 'name'], `${ANALYTICS}-pg${major}`);
  return composeText(doc);
}

export function analyticsStack(major: number): ComposeStack {
  return {
    project: ANALYTICS,
    dir: ANALYTICS_DIR,
    render: () => renderAnalyticsCompose(major),
    waitSec: 240,
  };
}

/** argv of psql in the analytics container as the superuser, for scripts (no TTY, stop on error). */
export function analyticsPsqlArgv(db: string, extra: readonly string[]): string[] {
  return [
    ...analyticsExec(),
    '-T',
    'db',
    'psql',
    '-U',
    SUPERUSER,
    '-d',
    db,
    '-v',
    'ON_ERROR_STOP=1',
    '-X',
    '-q',
    '-A',
    '-t',
    ...extra,
  ];
}

/** `docker compose … exec` of the analytics stack. */
export const analyticsExec = () => [
  'docker',
  'compose',
  '-p',
  ANALYTICS,
  '-f',
  `${ANALYTICS_DIR}/compose.yaml`,
  'exec',
];
