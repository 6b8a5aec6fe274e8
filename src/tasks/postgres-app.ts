import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type Document, parseDocument } from 'yaml';
import type { Change, Task } from '../engine/task.js';
import { PACKAGE_ROOT } from '../paths.js';
import { shq } from '../quote.js';
import { type ComposeStack, composeCmd, composeStackTask, composeText } from './compose-stack.js';
import { col, selectContainers, unlessDocker } from './docker-reads.js';
import { probeFields, probes } from './lib/probe.js';
import { refusal } from './lib/refuse.js';
import { chownToImageUser, generateOnce } from './lib/secret.js';
import { ipv4, publish, TAILNET_VARS_PROBE } from './stacks.js';

/** Where an app's stack lives on its host: compose.yaml, pg_password (0600), pg-major. */
export const APPS_DIR = '/srv/infra/apps';
export const appDir = (app: string) => `${APPS_DIR}/${app}`;
export const passwordFile = (app: string) => `${appDir(app)}/pg_password`;
export const majorFile = (app: string) => `${appDir(app)}/pg-major`;

/** psql in the app's container: interactive without `sql`, else one statement, unaligned, no TTY. */
export function psqlArgv(app: string, sql?: string): string[] {
  return sql === undefined
    ? [...composeExec(app), 'db', 'psql', '-U', app, '-d', app]
    : psqlBatchArgv(app, ['-c', sql]);
}

/**
 * The app's database container by name: Compose v2 names a service's first container
 * `<project>-<service>-1` (docker/compose pkg/compose/convergence.go getDefaultContainerName,
 * api.Separator "-"; the app's stack is project APP, service db, one replica, no container_name).
 */
export const dbContainer = (app: string) => `${app}-db-1`;

/**
 * psql in the app's container for scripts: no TTY, stops at the first error, unaligned tuples, then
 * `extra`. Plain `docker exec`, not `docker compose exec`: every check runs several of these per
 * app in the probe batch, and compose reads and validates the project first (on the lab, 130–200 ms
 * of mostly CPU against 80–100 ms). A stopped or missing container fails the same way.
 */
export function psqlBatchArgv(app: string, extra: readonly string[]): string[] {
  return [
    'docker',
    'exec',
    '-i',
    dbContainer(app),
    'psql',
    '-U',
    app,
    '-d',
    app,
    '-v',
    'ON_ERROR_STOP=1',
    '-X',
    '-A',
    '-t',
    ...extra,
  ];
}

/** `docker compose … exec` of the app's stack; the service and command follow. */
export const composeExec = (app: string) => [
  'docker',
  'compose',
  '-p',
  app,
  '-f',
  `${appDir(app)}/compose.yaml`,
  'exec',
];
export const volumeName = (app: string, major: number) => `${app}-pg${major}`;
export const imageOf = (major: number) => `postgres:${major}`;
/** 18+ images keep PGDATA under /var/lib/postgresql/18/docker and want the volume one level up. */
export const dataMount = (major: number) =>
  major >= 18 ? '/var/lib/postgresql' : '/var/lib/postgresql/data';

const TEMPLATE = path.join(PACKAGE_ROOT, 'templates/postgres-app.compose.yaml');

/**
 * Pure: the app's port on the host's tailnet address. Stable for an app whatever else is added
 * or removed (a hash of its name), moved on only by a collision with an app sorted before it.
 */
export function pgPort(app: string, appsOnHost: readonly string[]): number {
  const base = (name: string) => {
    let h = 0x811c9dc5;
    for (const ch of Buffer.from(name)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
    return h % 1000;
  };
  const taken = new Set<number>();
  for (const name of [...new Set([...appsOnHost, app])].sort()) {
    let p = base(name);
    while (taken.has(p)) p = (p + 1) % 1000;
    if (name === app) return 15400 + p;
    taken.add(p);
  }
  throw new Error('unreachable');
}

export interface PgApp {
  name: string;
  major: number;
  port: number;
}

let parsedTemplate: Document | undefined;
/** The shipped template, parsed once per run and cloned for each app. */
const defaultTemplate = (): Document => (parsedTemplate ??= parseDocument(readFileSync(TEMPLATE, 'utf8')));

/** Pure: the template with this app's values set as nodes; no user value is spliced into YAML text. */
export function renderPostgresCompose(app: PgApp, tailnet?: string, template?: string): string {
  const doc = template === undefined ? defaultTemplate().clone() : parseDocument(template);
  const labels = { 'io.infra.app': app.name, 'io.infra.pg-major': String(app.major) };
  doc.set('name', app.name);
  doc.setIn(['services', 'db', 'image'], imageOf(app.major));
  doc.setIn(['services', 'db', 'environment', 'POSTGRES_USER'], app.name);
  doc.setIn(['services', 'db', 'environment', 'POSTGRES_DB'], app.name);
  doc.setIn(['services', 'db', 'volumes', 0, 'target'], dataMount(app.major));
  doc.setIn(
    ['services', 'db', 'networks', 'app', 'aliases'],
    doc.createNode(['postgres', `${app.name}-postgres`], { flow: true }),
  );
  const address = ipv4(tailnet);
  const published = address ? [publish(address, app.port, 5432)] : [];
  doc.setIn(['services', 'db', 'ports'], doc.createNode(published));
  doc.setIn(['services', 'db', 'labels'], doc.createNode(labels));
  doc.setIn(['networks', 'app', 'name'], app.name);
  doc.setIn(['volumes', 'pgdata', 'name'], volumeName(app.name, app.major));
  doc.setIn(['volumes', 'pgdata', 'labels'], doc.createNode(labels));
  return composeText(doc);
}

export function postgresStack(app: PgApp): ComposeStack {
  return {
    project: app.name,
    dir: appDir(app.name),
    varsProbe: TAILNET_VARS_PROBE,
    render: (vars) => renderPostgresCompose(app, vars.tailnet),
    waitSec: 240,
  };
}

export type PasswordState = 'missing' | { mode: string };

/** Generates the app's password once, on the host; readable by the image's postgres user only. */
export function passwordScript(app: string, major: number): string {
  return [
    'set -e',
    "command -v docker >/dev/null 2>&1 || { echo 'docker is not installed here yet: run infra bootstrap for this host first' >&2; exit 1; }",
    `mkdir -p ${shq(appDir(app))} && chmod 700 ${shq(appDir(app))}`,
    generateOnce(passwordFile(app), 40),
    chownPasswordScript(app, major),
  ].join('\n');
}

/** The entrypoint reads POSTGRES_PASSWORD_FILE again after dropping to the image's postgres user. */
export const chownPasswordScript = (app: string, major: number) =>
  chownToImageUser(passwordFile(app), imageOf(major), 'postgres');

export function pgPasswordTask(
  want: Pick<PgApp, 'name' | 'major'>,
  after: string[] = [],
): Task<PasswordState> {
  const { name: app, major } = want;
  const f = shq(passwordFile(app));
  return {
    id: `app:${app}:password`,
    after,
    probe: `if [ -s ${f} ]; then stat -c %a ${f}; else echo missing; fi`,
    parse: (out) => (out.trim() === 'missing' ? 'missing' : { mode: out.trim() }),
    diff: (s): Change[] =>
      s === 'missing'
        ? [
            {
              summary: `generate the database password of ${app} (once, on the host)`,
              kind: 'secret-missing',
            },
          ]
        : s.mode !== '600'
          ? [
              {
                summary: `chmod 600 ${passwordFile(app)} (was ${s.mode})`,
                kind: 'file-mode',
                expected: '600',
                actual: s.mode,
              },
            ]
          : [],
    apply: () => [{ script: passwordScript(app, major), timeoutMs: 15 * 60_000 }],
  };
}

/** Pure: the major recorded on the host against the inventory's. */
export function diffMajor(app: string, want: number, recorded: number | null): Change[] {
  if (recorded === null)
    return [
      {
        summary: `record PostgreSQL ${want} as the major of ${app}`,
        kind: 'pg-major-unrecorded',
        expected: want,
        actual: null,
      },
    ];
  if (recorded === want) return [];
  const fix =
    want > recorded
      ? `run: infra upgrade-pg ${app} --to ${want} (or set postgres: ${recorded} back in the inventory)`
      : `set postgres: ${recorded} back in the inventory (downgrades need a manual dump and restore)`;
  return [
    {
      summary: `${app}'s data is PostgreSQL ${recorded}, the inventory says ${want}: a major change needs a dump and restore — ${fix}`,
      kind: 'pg-major-differs',
      expected: want,
      actual: recorded,
    },
  ];
}

/** The major an app's data directory was created with, recorded once; a change is refused (upgrade-pg). */
export function pgMajorTask(want: Pick<PgApp, 'name' | 'major'>, after: string[] = []): Task<number | null> {
  const { name: app, major } = want;
  return {
    id: `app:${app}:pg-major`,
    after,
    probe: `cat ${shq(majorFile(app))} 2>/dev/null || echo none`,
    parse: (out) => (/^\d+$/.test(out.trim()) ? Number(out.trim()) : null),
    diff: (recorded) => diffMajor(app, major, recorded),
    apply: (recorded, changes) =>
      recorded === null
        ? [
            {
              script: `mkdir -p ${shq(appDir(app))} && chmod 700 ${shq(appDir(app))} && echo ${major} > ${shq(majorFile(app))}`,
            },
          ]
        : [refusal(`refused: ${changes[0]!.summary}`)],
  };
}

export function postgresStackTask(app: PgApp, after: string[] = []): Task {
  // An app's stack is named as the app's, beside its major and password (`app:<name>:…`).
  return { ...composeStackTask(postgresStack(app), after), id: `app:${app.name}:postgres` };
}

/** Pure: app stacks on the host that the inventory no longer lists. */
export function diffOrphans(wanted: readonly string[], running: readonly string[]): Change[] {
  return [...new Set(running)]
    .filter((a) => !wanted.includes(a))
    .sort()
    .map((a) => ({
      summary: `stop the PostgreSQL stack of ${a} (not in the inventory; its volume and backups are kept)`,
      kind: 'stack-orphan',
      expected: null,
      actual: a,
    }));
}

export function appOrphansTask(wanted: readonly string[], after: string[]): Task<string[]> {
  return {
    id: 'apps:orphans',
    after,
    // Docker missing or down: no stack can be listed, and the docker service task already says why.
    ...probeFields(probes(unlessDocker(':'), selectContainers(`${col('app')} != ""`, col('app')))),
    parse: (out) =>
      out
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^[a-z][a-z0-9-]*$/.test(l)),
    diff: (running) => diffOrphans(wanted, running),
    apply: (_running, changes) => changes.map((c) => ({ script: stopStackScript(String(c.actual)) })),
  };
}

/** Stops and removes an app's containers; named volumes are never removed here. */
export function stopStackScript(app: string): string {
  return [
    `if [ -f ${shq(`${appDir(app)}/compose.yaml`)} ]; then ${composeCmd(app, appDir(app), 'down')}; fi`,
    `ids=$(docker ps -aq --filter ${shq(`label=io.infra.app=${app}`)}); [ -z "$ids" ] || docker rm -f $ids >/dev/null`,
  ].join('\n');
}
