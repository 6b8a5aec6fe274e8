import type { Change, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import { BASE_UNIT, PITR_DIR, PITR_ETC, PITR_ROLE, PITR_SLOT, WAL_UNIT } from './pitr.js';
import { psqlBatchArgv } from './postgres-app.js';

/**
 * Point-in-time recovery turned off for an app (`pitr` removed or false, or the app gone from the
 * inventory): what PITR left running is taken down, as an operator would (docs/apps.md
 * "Turning point-in-time recovery off"). Nothing plans these units any more, so without this the
 * receiver would stream forever and the slot hold WAL up to the cap.
 *
 * Control host: the receiver and the base-backup timer are stopped and disabled and the app's
 * files under /etc/infra/pitr removed (env, password, pgpass, verifier: what pitr.ts makes per
 * app). The archive under /var/backups/infra-pitr/APP is KEPT: WAL and base backups are data,
 * removed only by the operator.
 * Apps host: the slot `infra_pitr` is dropped once inactive, and the role `infra_wal` with it. An
 * active slot means the control host still streams: that waits for `infra apply CONTROL` (never
 * terminated from here), so whichever host is applied first, the drop cannot race the receiver.
 */

/** Per-app files pitr.ts writes under PITR_ETC (envFile, secretScript). */
export const APP_FILES = ['env', 'pgpass', 'password', 'verifier'] as const;

/** Shell: the per-app PITR state of the control host, one `KIND APP WHAT` line each. */
export const leftoverProbe = `ls -1 ${shq(PITR_ETC)} 2>/dev/null | sed -n 's/^\\([a-z0-9-]*\\)\\.\\(${APP_FILES.join('\\|')}\\)$/file \\1 \\2/p'
ls -1 /etc/systemd/system/*.wants 2>/dev/null | sed -n 's/^\\(${WAL_UNIT}\\|${BASE_UNIT}\\)@\\([a-z0-9-]*\\)\\.\\(service\\|timer\\)$/enabled \\2 \\1@.\\3/p'
systemctl list-units --all --plain --no-legend '${WAL_UNIT}@*' '${BASE_UNIT}@*' 2>/dev/null | awk '$3 != "inactive" { print "unit", $1, $3 }' | sed -n 's/^unit \\(${WAL_UNIT}\\|${BASE_UNIT}\\)@\\([a-z0-9-]*\\)\\.\\(service\\|timer\\) \\(.*\\)$/unit \\2 \\1@.\\3 \\4/p'`;

/** Pure: app → what of it is on the host ("env file", "infra-pitr-wal@.service enabled", …). */
export function parseLeftovers(out: string): Record<string, string[]> {
  const m: Record<string, string[]> = {};
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    const [kind, app, what, state] = f;
    if (!app || !what || !/^[a-z0-9-]+$/.test(app)) continue;
    const item =
      kind === 'file'
        ? `${app}.${what}`
        : kind === 'enabled'
          ? `${what.replace('@', `@${app}`)} enabled`
          : kind === 'unit' && state
            ? `${what.replace('@', `@${app}`)} ${state}`
            : null;
    if (item) m[app] = [...(m[app] ?? []), item];
  }
  return m;
}

/** Pure: the apps with PITR state here that are not `wanted` (apps with `pitr: true`), sorted. */
const leftoverApps = (wanted: readonly string[], m: Record<string, string[]>) =>
  Object.keys(m)
    .filter((app) => !wanted.includes(app))
    .sort();

/** Pure: every app with PITR state here that is not one of `wanted` (apps with `pitr: true`). */
export function diffLeftovers(wanted: readonly string[], m: Record<string, string[]>): Change[] {
  return leftoverApps(wanted, m).map((app) => ({
    summary: `point-in-time recovery is off for ${app}: stop and disable its WAL receiver and base-backup timer, remove its files in ${PITR_ETC} (its archive in ${PITR_DIR}/${app} is kept)`,
    kind: 'pitr-leftover',
    expected: 'none',
    actual: m[app]!.join(', '),
  }));
}

/** Shell: one app's PITR units stopped and disabled, its files under PITR_ETC removed. */
export function teardownScript(app: string): string {
  const wal = shq(`${WAL_UNIT}@${app}.service`);
  const timer = shq(`${BASE_UNIT}@${app}.timer`);
  const base = shq(`${BASE_UNIT}@${app}.service`);
  return `set -e
systemctl disable --now ${wal} ${timer} >/dev/null 2>&1 || systemctl stop ${wal} ${timer} ${base} >/dev/null 2>&1 || true
systemctl stop ${base} >/dev/null 2>&1 || true
docker rm -f ${shq(`infra-pitr-wal-${app}`)} >/dev/null 2>&1 || true
systemctl reset-failed ${wal} ${timer} ${base} >/dev/null 2>&1 || true
rm -f ${APP_FILES.map((x) => shq(`${PITR_ETC}/${app}.${x}`)).join(' ')}
echo "${app}: point-in-time recovery off; the archive stays in ${PITR_DIR}/${app}"`;
}

/** The control host's leftovers of apps whose PITR is off, found with one probe. */
export function pitrLeftoverTask(
  wanted: readonly string[],
  after: string[] = [],
): Task<Record<string, string[]>> {
  return {
    id: 'pitr:leftover',
    after,
    probe: leftoverProbe,
    parse: parseLeftovers,
    diff: (m) => diffLeftovers(wanted, m),
    apply: (m) => leftoverApps(wanted, m).map((app) => ({ script: teardownScript(app) })),
  };
}

export interface OffState {
  up: boolean;
  slot: 'active' | 'inactive' | null;
  role: boolean;
}

const OFF_SQL = `select coalesce((select case when active then 'active' else 'inactive' end from pg_replication_slots where slot_name = '${PITR_SLOT}'), 'none'), exists (select 1 from pg_roles where rolname = '${PITR_ROLE}')`;

/** Pure: the probe's `SLOT|ROLE` line (`down`: the stack is not running, nothing to say). */
export function parseOff(out: string): OffState {
  const m = /^(active|inactive|none)\|([tf])$/m.exec(out.trim());
  if (!m) return { up: false, slot: null, role: false };
  return { up: true, slot: m[1] === 'none' ? null : (m[1] as 'active' | 'inactive'), role: m[2] === 't' };
}

/** Pure: the slot and role of an app whose PITR is off; an active slot is the control host's to end. */
export function diffOff(app: string, controlHost: string, s: OffState): Change[] {
  if (!s.up || (!s.slot && !s.role)) return [];
  if (s.slot === 'active')
    return [
      {
        summary: `point-in-time recovery is off for ${app} but ${controlHost} still streams its WAL (slot ${PITR_SLOT} active): run infra apply ${controlHost}, then the slot is dropped here`,
        kind: 'pitr-leftover',
        expected: 'none',
        actual: 'slot active',
      },
    ];
  const what = [s.slot ? `the slot ${PITR_SLOT} (it holds WAL)` : '', s.role ? `the role ${PITR_ROLE}` : '']
    .filter(Boolean)
    .join(' and ');
  return [
    {
      summary: `point-in-time recovery is off for ${app}: drop ${what}`,
      kind: 'pitr-leftover',
      expected: 'none',
      actual: [s.slot ? 'slot inactive' : '', s.role ? 'role' : ''].filter(Boolean).join(', '),
    },
  ];
}

/**
 * The SQL of the drop. `not active` again in the statement: a receiver that connected since the
 * probe keeps its slot (the role then goes at the next run, once the slot is gone); the role only
 * once no slot is left, so a streaming receiver is never cut off from here.
 */
export const offSql = `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = '${PITR_SLOT}' and not active;
select 'drop role ${PITR_ROLE}' where exists (select 1 from pg_roles where rolname = '${PITR_ROLE}') and not exists (select 1 from pg_replication_slots where slot_name = '${PITR_SLOT}') \\gexec
`;

/** One app of an apps host with PITR off: its leftover slot and role, dropped once inactive. */
export function pitrOffTask(app: string, controlHost: string, after: string[] = []): Task<OffState> {
  const psql = (extra: string[]) => shCmd(psqlBatchArgv(app, ['-q', ...extra]));
  return {
    id: `pitr-source:${app}:off`,
    after,
    probe: `${psql(['-F', '|', '-c', OFF_SQL])} 2>/dev/null || echo down`,
    parse: parseOff,
    diff: (s) => diffOff(app, controlHost, s),
    apply: () => [{ script: psql(['-f', '-']), stdin: offSql }],
    wait: (s) =>
      s.up && s.slot === 'active' ? { on: controlHost, run: `infra apply ${controlHost}` } : undefined,
  };
}
