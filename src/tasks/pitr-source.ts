import type { Change, Task } from '../engine/task.js';
import { DEFAULT_WAL_CAP } from '../inventory/schema.js';
import { shCmd, shq } from '../quote.js';
import { MARKED, marked } from './app-pg-hba.js';
import { PITR_ROLE, PITR_SLOT } from './pitr.js';
import { psqlBatchArgv } from './postgres-app.js';

/**
 * Point-in-time recovery, the apps host's side: in each app's PostgreSQL, the replication role
 * (its password is the control host's SCRAM verifier). Its two pg_hba lines (replication from the
 * control host's tailnet address only; the role rejected from anywhere else) are written by the one
 * owner of infra's pg_hba block (tasks/app-pg-hba.ts), and max_slot_wal_keep_size (the app's
 * `pitr_wal_cap`, default 1GB) by the one owner of the server's settings (tasks/app-pg-settings.ts),
 * so a slot whose reader is gone cannot fill the disk (PostgreSQL 16-18 "max_slot_wal_keep_size": at
 * a checkpoint, a slot whose restart_lsn is further behind is invalidated, wal_status `lost`, and
 * its WAL freed). This task reads both to know when the app is ready to stream. The slot itself
 * is made by the control host's receiver (`pg_receivewal --create-slot --if-not-exists`): a slot
 * here means streaming was set up, so an inactive one is a finding, not a new app.
 */
/** Lag past this is a finding (issue 18: 60 s). */
export const LAG_LIMIT_SEC = 60;

/** PITR's lines of the infra block on top of the app's pg_hba.conf (tasks/app-pg-hba.ts writes it). */
export const hbaLines = (control: string) => [
  `host replication ${PITR_ROLE} ${control}/32 scram-sha-256`,
  `host all,replication ${PITR_ROLE} all reject`,
];

export interface SourceState {
  up: boolean;
  verifier: string | null;
  cap: string;
  /** The infra block's lines, marks included (tasks/app-pg-hba.ts). */
  hba: string[];
  /**
   * `retained`: bytes from restart_lsn to the current position; `safe`: PostgreSQL's own
   * safe_wal_size (null when lost or uncapped), see diffSource.
   */
  slot: { active: boolean; walStatus: string; retained: number; safe: number | null } | null;
  lagSec: number | null;
}

const SQL = `select coalesce((select rolpassword from pg_authid where rolname = '${PITR_ROLE}' and rolreplication and rolcanlogin), 'none'),
 current_setting('max_slot_wal_keep_size'),
 coalesce((select string_agg(l, ';;' order by n) from unnest(regexp_split_to_array(pg_read_file(current_setting('hba_file')), E'\\n')) with ordinality as t(l, n) where l ~ '${MARKED}'), ''),
 coalesce((select (case when active then 'active' else 'inactive' end) || ' ' || coalesce(wal_status, '-') || ' ' || coalesce((pg_current_wal_lsn() - restart_lsn)::bigint, 0) || ' ' || coalesce(safe_wal_size::text, '-') from pg_replication_slots where slot_name = '${PITR_SLOT}'), 'none'),
 coalesce((select extract(epoch from coalesce(r.write_lag, interval '0'))::numeric(12,1)::text from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = '${PITR_SLOT}'), '-')`;

const psql = (app: string, extra: string[]) => shCmd(psqlBatchArgv(app, ['-q', ...extra]));

export const sourceProbe = (app: string) => `${psql(app, ['-F', '|', '-c', SQL])} 2>/dev/null || echo down`;

/** Pure: the probe's one `|`-separated line (or `down`: the stack is not running). */
export function parseSource(out: string): SourceState {
  const f = out.trim().split('\n').at(-1)!.split('|');
  if (f.length < 5) return { up: false, verifier: null, cap: '', hba: [], slot: null, lagSec: null };
  const s = /^(active|inactive) (\S+) (\d+) (-?\d+|-)$/.exec(f[3]!);
  return {
    up: true,
    verifier: f[0] === 'none' ? null : f[0]!,
    cap: f[1]!,
    hba: f[2] ? f[2].split(';;') : [],
    slot: s
      ? {
          active: s[1] === 'active',
          walStatus: s[2]!,
          retained: Number(s[3]),
          safe: s[4] === '-' ? null : Number(s[4]),
        }
      : null,
    lagSec: f[4] === '-' ? null : Number(f[4]),
  };
}

const STATUS_KINDS = new Set(['wal-stream-stopped', 'wal-stream-lag', 'wal-slot-over-cap']);

/** Pure: configuration to fix, then the stream's state (which only the control host can fix). */
export function diffSource(app: string, verifier: string, s: SourceState, cap = DEFAULT_WAL_CAP): Change[] {
  if (!s.up) return []; // the stack task reports a stopped PostgreSQL
  const out: Change[] = [];
  if (s.verifier !== verifier)
    out.push({
      summary: `${s.verifier ? 'set' : 'create'} ${app}'s replication role ${PITR_ROLE} with the control host's verifier`,
      kind: 'pitr-role',
    });
  const slot = s.slot;
  if (slot && !slot.active)
    out.push({
      summary: `WAL streaming of ${app} to the control host stopped: the slot ${PITR_SLOT} is inactive (${(slot.retained / 1024 ** 2).toFixed(0)} MiB held, cap ${cap})`,
      kind: 'wal-stream-stopped',
      actual: 'inactive',
    });
  if (slot?.walStatus === 'lost')
    out.push({
      summary: `the slot ${PITR_SLOT} of ${app} was invalidated past the cap ${cap} (wal_status lost): WAL the control host never received is gone, so point-in-time recovery has a gap; infra apply on the control host sets the old archive aside, makes a new slot and takes a fresh base backup`,
      kind: 'wal-slot-over-cap',
      actual: slot.walStatus,
    });
  // Past the cap as PostgreSQL counts it, not bytes held against the cap: it keeps whole segments
  // (a slot 48 MiB and a bit behind is still `reserved` under a 48MB cap). safe_wal_size is "failLSN
  // - currlsn", failLSN the start of the segment restart_lsn's + max(max_slot_wal_keep_size,
  // wal_keep_size) + 1 ("if currpos reaches failLSN, we lose our segment"; slotfuncs.c,
  // pg_get_replication_slots, 16-18); `unreserved` is xlog.c's GetWALAvailability for the same.
  else if (slot && (slot.walStatus === 'unreserved' || (slot.safe !== null && slot.safe <= 0)))
    out.push({
      summary: `the slot ${PITR_SLOT} of ${app} holds WAL past the cap ${cap} (wal_status ${slot.walStatus}): the next checkpoint removes WAL the control host does not have yet`,
      kind: 'wal-slot-over-cap',
      actual: slot.walStatus,
    });
  if (slot?.active && s.lagSec !== null && s.lagSec > LAG_LIMIT_SEC)
    out.push({
      summary: `WAL streaming of ${app} lags ${s.lagSec.toFixed(0)} s behind (limit ${LAG_LIMIT_SEC} s)`,
      kind: 'wal-stream-lag',
      expected: `<= ${LAG_LIMIT_SEC}s`,
      actual: `${s.lagSec}s`,
    });
  return out;
}

/** The SQL of an apply; on stdin (the verifier is not the password, but no argv either). */
export function sourceSql(verifier: string): string {
  return `select 'create role ${PITR_ROLE} with replication login' where not exists (select 1 from pg_roles where rolname = '${PITR_ROLE}') \\gexec
alter role ${PITR_ROLE} with replication login password '${verifier}';
`;
}

/** Pure: the app's block holds PITR's lines (wherever the other features' lines are). */
const hbaReady = (s: SourceState, control: string) => {
  const have = new Set(s.hba);
  return marked(hbaLines(control)).every((l) => have.has(l));
};

export interface SourceApp {
  app: string;
  verifier: string;
  /** max_slot_wal_keep_size, as the inventory spells it (validated: `\d+(MB|GB|TB)`). */
  cap: string;
}

/** Pure: `@@ APP` headed blocks, one per app. */
export function parseSources(out: string): Record<string, SourceState> {
  const m: Record<string, SourceState> = {};
  for (const block of out.split(/^@@ /m).slice(1)) {
    const nl = block.indexOf('\n');
    m[block.slice(0, nl < 0 ? undefined : nl).trim()] = parseSource(nl < 0 ? '' : block.slice(nl + 1));
  }
  return m;
}

const DOWN = parseSource('down');

/**
 * Every app of one apps host in one task, so the host learns one list: the apps ready to stream
 * (role and pg_hba in place), which the control host's plan starts receivers for.
 */
export function pitrSourcesTask(
  want: { apps: readonly SourceApp[]; controlHost: string; control: string },
  after: string[] = [],
): Task<Record<string, SourceState>> {
  const { apps, controlHost, control } = want;
  const diffAll = (m: Record<string, SourceState>) =>
    apps.flatMap((a) => diffSource(a.app, a.verifier, m[a.app] ?? DOWN, a.cap));
  return {
    id: 'pitr-source',
    after,
    // `true` for no app: an empty probe would leave the batch's braces empty (a shell syntax error).
    probe: apps.map((a) => `echo ${shq(`@@ ${a.app}`)}\n${sourceProbe(a.app)}`).join('\n') || 'true',
    parse: parseSources,
    diff: diffAll,
    apply: (m) =>
      apps.flatMap((a) => {
        const s = m[a.app] ?? DOWN;
        const kinds = new Set(diffSource(a.app, a.verifier, s, a.cap).map((c) => c.kind));
        return kinds.has('pitr-role')
          ? [{ script: psql(a.app, ['-f', '-']), stdin: sourceSql(a.verifier) }]
          : [];
      }),
    // Only the control host's receiver can end these: waiting for it, not failed here.
    wait: (m) => {
      const c = diffAll(m);
      return c.length && c.every((x) => STATUS_KINDS.has(x.kind))
        ? { on: controlHost, run: `infra apply ${controlHost}` }
        : undefined;
    },
    learn: (m) => ({
      pitrSources: Object.fromEntries(
        apps
          .filter((a) => {
            const s = m[a.app];
            return s?.up && s.verifier === a.verifier && hbaReady(s, control);
          })
          .map((a) => [a.app, a.verifier])
          .sort((x, y) => x[0]!.localeCompare(y[0]!)),
      ),
    }),
  };
}
