import type { Change, Task } from '../engine/task.js';
import { walCapBytes } from '../inventory/schema.js';
import { shCmd, shq } from '../quote.js';
import { perApp } from './lib/parse.js';
import { appDir, psqlBatchArgv } from './postgres-app.js';

/**
 * The ONE owner of the server settings infra gives an app's PostgreSQL (docs/analytics.md, open
 * question 2): `max_slot_wal_keep_size` whenever a feature keeps a slot there (PITR's physical
 * `infra_pitr`, the analytics layer's logical `analytics_APP`; the value is the app's `pitr_wal_cap`,
 * default 1GB: server-wide, it caps each slot) and `wal_level = logical` for `replication`. Both
 * through ALTER SYSTEM (postgresql.auto.conf), never the compose `command:`, whose `-c` would
 * override it. `wal_level` "can only be set at server start" (PostgreSQL 16-18): the restart is
 * its own task (appRestartTask), which waits for the operator's consent. Nothing is reset when a
 * feature goes: a lower wal_level would need another restart and harms nothing.
 */
export interface SettingsWant {
  app: string;
  /** max_slot_wal_keep_size, as the inventory spells it; null: no feature keeps a slot. */
  cap: string | null;
  logical: boolean;
}

export interface SettingsState {
  up: boolean;
  cap: string;
  /**
   * The running value, and the one the configuration files give (applied at the next start: until
   * then pg_file_settings shows it with `setting could not be applied` in `error`).
   */
  walLevel: string;
  walLevelFile: string;
  /** Tables outside the system schemas: 0 on a server no app has used yet. */
  tables: number;
}

const SQL = `select current_setting('max_slot_wal_keep_size'), current_setting('wal_level'),
 coalesce((select setting from pg_file_settings where name = 'wal_level' order by seqno desc limit 1), current_setting('wal_level')),
 (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast')`;

const psql = (app: string, extra: string[]) => shCmd(psqlBatchArgv(app, ['-q', ...extra]));
export const settingsProbe = (app: string) => `${psql(app, ['-F', '|', '-c', SQL])} 2>/dev/null || echo down`;

export function parseSettings(out: string): SettingsState {
  const f = out.trim().split('\n').at(-1)!.split('|');
  if (f.length !== 4) return { up: false, cap: '', walLevel: '', walLevelFile: '', tables: 0 };
  return { up: true, cap: f[0]!, walLevel: f[1]!, walLevelFile: f[2]!, tables: Number(f[3]) };
}

/** Pure: what ALTER SYSTEM has to set (the restart is appRestartTask's). */
export function diffSettings(w: SettingsWant, s: SettingsState): Change[] {
  if (!s.up) return [];
  const out: Change[] = [];
  // Compared in bytes: SHOW prints 1024MB as 1GB.
  if (w.cap && walCapBytes(s.cap) !== walCapBytes(w.cap))
    out.push({
      summary: `cap the WAL a slot may hold in ${w.app}: max_slot_wal_keep_size ${w.cap} (is ${s.cap})`,
      kind: 'slot-wal-cap',
      expected: w.cap,
      actual: s.cap,
    });
  if (w.logical && s.walLevelFile !== 'logical')
    out.push({
      summary: `set wal_level = logical in ${w.app}'s PostgreSQL (postgresql.auto.conf; applies at its next start)`,
      kind: 'analytics-wal-level',
      expected: 'logical',
      actual: s.walLevelFile,
    });
  return out;
}

export function settingsSql(w: SettingsWant, s: SettingsState): string {
  const kinds = new Set(diffSettings(w, s).map((c) => c.kind));
  return [
    kinds.has('slot-wal-cap') ? `alter system set max_slot_wal_keep_size = '${w.cap}';` : '',
    kinds.has('analytics-wal-level') ? `alter system set wal_level = 'logical';` : '',
    'select pg_reload_conf();',
  ].join('\n');
}

export function appSettingsTask(
  apps: readonly SettingsWant[],
  after: string[] = [],
): Task<Record<string, SettingsState>> {
  const down = parseSettings('down');
  const of = (m: Record<string, SettingsState>, app: string) => m[app] ?? down;
  return {
    id: 'pg-settings',
    after,
    ...perApp(
      apps.map((a) => a.app),
      settingsProbe,
      parseSettings,
    ),
    diff: (m) => apps.flatMap((a) => diffSettings(a, of(m, a.app))),
    apply: (m) =>
      apps
        .filter((a) => diffSettings(a, of(m, a.app)).length)
        .map((a) => ({
          script: `${psql(a.app, ['-f', '-'])} >/dev/null`,
          stdin: settingsSql(a, of(m, a.app)),
        })),
  };
}

/**
 * Pure: the app's server runs with another wal_level than logical. The restart is taken when the
 * operator consented (`infra apply --allow-restart`), or without asking on a server no app has
 * used yet (no table outside the system schemas: a brand-new app added to a replication layer
 * starts its life with logical); otherwise the task waits, and the run exits 2.
 */
export function diffRestart(app: string, s: SettingsState): Change[] {
  if (!s.up || s.walLevel === 'logical') return [];
  return [
    {
      summary: `restart ${app}'s PostgreSQL (wal_level ${s.walLevel} → logical; unavailable for a few seconds)`,
      kind: 'analytics-wal-level',
      expected: 'logical',
      actual: s.walLevel,
    },
  ];
}

/** docker compose restart, then wait until the server accepts connections again (up to 2 min). */
export function restartScript(app: string): string {
  const compose = ['docker', 'compose', '-p', app, '-f', `${appDir(app)}/compose.yaml`];
  return [
    'set -e',
    shCmd([...compose, 'restart', 'db']),
    `for i in $(seq 1 120); do ${shCmd([...compose, 'exec', '-T', 'db', 'pg_isready', '-q', '-U', app, '-d', app])} && ${psql(app, ['-c', 'select 1'])} >/dev/null 2>&1 && exit 0; sleep 1; done`,
    `echo ${shq(`${app}'s PostgreSQL did not come back within 2 minutes of its restart`)} >&2; exit 1`,
  ].join('\n');
}

export function appRestartTask(
  o: { app: string; host: string; allowRestart: boolean },
  after: string[],
): Task<SettingsState> {
  return {
    id: `pg-restart:${o.app}`,
    after,
    probe: settingsProbe(o.app),
    parse: parseSettings,
    diff: (s) => diffRestart(o.app, s),
    apply: () => [{ script: restartScript(o.app), timeoutMs: 180_000 }],
    wait: (s) =>
      o.allowRestart || s.tables === 0 || !diffRestart(o.app, s).length
        ? undefined
        : { on: "the operator's consent to restart it", run: `infra apply ${o.host} --allow-restart` },
  };
}
