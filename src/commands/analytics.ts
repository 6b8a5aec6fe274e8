import { connectHost } from '../engine/connect.js';
import { readsScript, sharedReadsOf } from '../engine/task.js';
import { InfraError } from '../errors.js';
import type { AnalyticsSettings, Host, Inventory } from '../inventory/types.js';
import { shCmd, shq } from '../quote.js';
import { Output } from '../report/output.js';
import {
  diffSync,
  parseSync,
  runSyncScript,
  SYNC_FAILED_DIR,
  SYNCED_DIR,
  servedCopy,
  syncProbe,
} from '../tasks/analytics-nightly.js';
import {
  ANALYTICS_DB,
  analyticsExec,
  analyticsPsqlArgv,
  RO_ROLE,
  roPasswordFile,
  sqlName,
} from '../tasks/analytics-stack.js';
import { instanceProbe } from '../tasks/analytics-state.js';
import { asRoot, opensshFor, runOpenssh } from '../transport/openssh.js';
import type { Transport } from '../transport/types.js';
import { checkedRun, confirm, lastLines } from './app-host.js';
import { findHost, type GlobalOptions, loadFor, redactorFor } from './shared.js';

/**
 * `infra analytics …` (docs/analytics.md (g)): sync now (nightly), status, psql as the read-only
 * role, and drop an orphan app's data. Each works over one connection to the analytics host.
 */
interface Session {
  inv: Inventory;
  settings: AnalyticsSettings;
  host: Host;
  out: Output;
  t: Transport;
  run(script: string, what: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<string>;
}

function settingsOf(inv: Inventory): AnalyticsSettings {
  if (!inv.analytics)
    throw new InfraError(
      `${inv.file} has no analytics key`,
      'add one, e.g. analytics: {mode: nightly} (README, "Analytics")',
    );
  return inv.analytics;
}

async function withAnalytics<T>(
  g: GlobalOptions,
  body: (s: Session) => Promise<T>,
  inv = loadFor(g),
): Promise<T> {
  const settings = settingsOf(inv);
  const host = findHost(inv, settings.host);
  const out = new Output(redactorFor(inv));
  const { transport: t } = await connectHost(inv, host);
  const run = checkedRun(t, host.name);
  try {
    return await body({ inv, settings, host, out, t, run });
  } finally {
    await t.close();
  }
}

function includedApps(settings: AnalyticsSettings, app?: string): string[] {
  if (app === undefined) return settings.apps;
  if (!settings.apps.includes(app))
    throw new InfraError(
      `${app} is not in the analytics layer (analytics.apps: ${settings.apps.join(', ') || 'none'})`,
    );
  return [app];
}

/** `infra analytics sync [APP]`: a dump now and its copy (infra backup), then the restore and swap. */
export async function analyticsSync(g: GlobalOptions, app?: string): Promise<number> {
  const inv = loadFor(g);
  const settings = settingsOf(inv);
  if (settings.mode !== 'nightly')
    throw new InfraError(
      `infra analytics sync is for mode nightly; analytics.mode is ${settings.mode}, which ${settings.mode === 'replication' ? 'streams changes as they happen' : 'copies nothing'}`,
    );
  const apps = includedApps(settings, app);
  const { backup } = await import('./backup.js');
  for (const a of apps) await backup(g, a, {});
  return withAnalytics(
    g,
    async (s) => {
      let failed = 0;
      for (const a of apps) {
        const r = await s.t.exec(runSyncScript(a), { timeoutMs: 3_600_000 });
        for (const l of r.stdout.trim().split('\n').filter(Boolean)) s.out.line(`${s.host.name}: ${l}`);
        if (r.code !== 0) {
          failed++;
          s.out.line(`${s.host.name}: ${lastLines(r.stderr, 2).replace(/^infra-analytics-sync: /, '')}`);
        }
      }
      return failed ? 1 : 0;
    },
    inv,
  );
}

export interface AppStatus {
  app: string;
  mode: string;
  /** The database the app's foreign server reads, when it is a copy. */
  serves: string | null;
  /** The copy's dump stamp, and when the sync recorded it. */
  stamp: string | null;
  syncedAgeSec: number | null;
  newestCopy: string | null;
  failed: string | null;
  findings: string[];
}

/** `infra analytics status [--json]`: per app, what the layer serves and how old it is. */
export async function analyticsStatus(g: GlobalOptions, o: { json?: boolean }): Promise<number> {
  return withAnalytics(g, async (s) => {
    const { settings } = s;
    const apps: AppStatus[] = [];
    if (settings.mode === 'nightly') {
      const script = [
        readsScript(sharedReadsOf([instanceProbe])),
        ...settings.apps.map((a) => `echo ${shq(`@@ ${a}`)}\n${syncProbe(a)}`),
      ].join('\n');
      const out = await s.run(script, 'reading the analytics layer');
      for (const block of out.split(/^@@ /m).slice(1)) {
        const nl = block.indexOf('\n');
        const app = block.slice(0, nl).trim();
        const st = parseSync(block.slice(nl + 1));
        if (!st.instance.up)
          throw new InfraError(
            `the analytics PostgreSQL on ${s.host.name} does not answer`,
            `run: infra apply ${s.host.name}`,
          );
        apps.push({
          app,
          mode: settings.mode,
          serves: servedCopy(app, st.instance),
          stamp: st.synced?.stamp ?? null,
          syncedAgeSec: st.synced ? st.nowSec - st.synced.atSec : null,
          newestCopy: st.copy,
          failed: st.failed,
          findings: diffSync(app, st).map((c) => c.summary),
        });
      }
    } else
      for (const app of settings.apps)
        apps.push({
          app,
          mode: settings.mode,
          serves: null,
          stamp: null,
          syncedAgeSec: null,
          newestCopy: null,
          failed: null,
          findings: [],
        });
    if (o.json) s.out.line(JSON.stringify({ host: s.host.name, mode: settings.mode, apps }, null, 2));
    else {
      s.out.line(`analytics on ${s.host.name}, mode ${settings.mode}`);
      for (const a of apps) {
        const age =
          a.syncedAgeSec === null ? 'never synced' : `synced ${(a.syncedAgeSec / 3600).toFixed(1)} h ago`;
        s.out.line(
          `  ${a.app.padEnd(16)} ${a.serves ? `serves ${a.stamp ?? a.serves}, ${age}` : 'no data yet'}${a.failed ? `; last sync failed: ${a.failed}` : ''}`,
        );
        for (const f of a.findings) s.out.line(`    ! ${f}`);
      }
    }
    return apps.some((a) => a.findings.length) ? 2 : 0;
  });
}

/** Shell: psql in the analytics container as analytics_ro; the password on the exec's environment. */
export function roPsqlScript(sql?: string): string {
  const exec = analyticsExec();
  const argv = [
    ...exec,
    ...(sql === undefined ? [] : ['-T']),
    '-e',
    'PGPASSWORD',
    'db',
    'psql',
    '-h',
    '127.0.0.1',
    '-U',
    RO_ROLE,
    '-d',
    ANALYTICS_DB,
  ];
  const batch = sql === undefined ? [] : ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql];
  return `PGPASSWORD="$(cat ${shq(roPasswordFile)})" ${shCmd([...argv, ...batch])}`;
}

/** `infra analytics psql [-c SQL]`: as analytics_ro in `analytics`, like `infra db psql`. */
export async function analyticsPsql(g: GlobalOptions, o: { command?: string }): Promise<number> {
  if (o.command !== undefined)
    return withAnalytics(g, async (s) => {
      const out = await s.run(roPsqlScript(o.command), 'psql on the analytics layer');
      s.out.line(out.replace(/\n$/, ''));
      return 0;
    });
  const inv = loadFor(g);
  const host = findHost(inv, settingsOf(inv).host);
  if (!process.stdin.isTTY)
    throw new InfraError(
      'infra analytics psql needs a terminal',
      "for scripts: infra analytics psql -c 'SQL'",
    );
  return runOpenssh(await opensshFor(inv, host, { tty: true, remote: asRoot(host, roPsqlScript()) }));
}

/** `infra analytics drop APP --yes`: an orphan's server, schema, copies and records. */
export async function analyticsDrop(g: GlobalOptions, app: string, o: { yes?: boolean }): Promise<number> {
  const inv = loadFor(g);
  const settings = settingsOf(inv);
  if (settings.apps.includes(app))
    throw new InfraError(
      `${app} is still in analytics.apps: remove it there first (its data is dropped only as an orphan)`,
    );
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(app)) throw new InfraError(`${JSON.stringify(app)} is not an app name`);
  const id = sqlName(app);
  await confirm(
    `drop ${app}'s data from the analytics layer on ${settings.host} (its foreign server, schema and copies)?`,
    app,
    o.yes,
  );
  return withAnalytics(
    g,
    async (s) => {
      const psql = (db: string, sql: string) => shCmd(analyticsPsqlArgv(db, ['-c', sql]));
      const copies = `select datname from pg_database where datname ~ '^${id}_[0-9]{8}t[0-9]{6}z$'`;
      await s.run(
        [
          'set -e',
          psql(ANALYTICS_DB, `drop schema if exists ${id} cascade`),
          psql(ANALYTICS_DB, `drop server if exists ${id} cascade`),
          `for d in $(${psql(ANALYTICS_DB, copies)}); do ${shCmd(analyticsPsqlArgv(ANALYTICS_DB, []))} -c "drop database \\"$d\\" with (force)"; done`,
          `rm -f ${shq(`${SYNCED_DIR}/${app}.synced`)} ${shq(`${SYNC_FAILED_DIR}/${app}.failed`)}`,
        ].join('\n'),
        `dropping ${app} from the analytics layer`,
      );
      s.out.line(`${s.host.name}: dropped ${app} from the analytics layer`);
      return 0;
    },
    inv,
  );
}
