import type { Change, Task } from '../engine/task.js';
import type { OffsiteSettings } from '../inventory/offsite.js';
import { shCmd, shq } from '../quote.js';
import { COPIES_DIR } from './backup-pull.js';
import { scratchDir } from './lib/file.js';
import { timerUnit } from './lib/systemd.js';
import { PITR_DIR } from './pitr.js';

/**
 * The off-site copy (docs/apps.md "Off-site"), on the control host: `restic backup` of the
 * paths below into the inventory's repository, nightly after the pull, then `forget --prune`
 * with the inventory's policy. restic 0.18 (Debian trixie): the password only through
 * RESTIC_PASSWORD_FILE (a 0600 file; restic trims it, cmd/restic/global.go loadPasswordFromFile),
 * never on a command line; `cat config` exits 10 when there is no repository yet
 * (doc/075_scripting.rst); `unlock` removes only stale locks (a killed run's: same host, dead
 * PID, internal/restic/lock.go Stale); a snapshot is written only once its data is uploaded, so
 * an interrupted run leaves the previous snapshot as the latest.
 */
export const OFFSITE_DIR = '/etc/infra/offsite';
export const OFFSITE_SCRIPT_PATH = '/usr/local/sbin/infra-backup-offsite';
export const OFFSITE_STATE_DIR = '/var/lib/infra-backup-offsite';
export const OFFSITE_UNIT = 'infra-backup-offsite';

/**
 * What goes off-site: one path a line (restic --files-from): the dumps' copies and PITR's base
 * backups and WAL archive (issue 18; absent unless an app has `pitr: true`). A path that does not
 * exist yet is skipped.
 */
export const OFFSITE_PATHS: readonly string[] = [COPIES_DIR, PITR_DIR];

/** Pure: the sourced env file (0600): where the repository is, its credentials, the policy. */
export function offsiteEnv(o: OffsiteSettings): string {
  const lines = [
    '# Installed by infra (backups.offsite): read by infra-backup-offsite only.',
    `RESTIC_REPOSITORY=${shq(o.repository)}`,
    ...o.env.map((e) => `${e.name}=${shq(e.value?.reveal() ?? '')}`),
    `INFRA_KEEP_DAILY=${o.keepDaily}`,
    `INFRA_KEEP_WEEKLY=${o.keepWeekly}`,
    `INFRA_KEEP_MONTHLY=${o.keepMonthly}`,
  ];
  return `${lines.join('\n')}\n`;
}

export const offsitePaths = (paths: readonly string[] = OFFSITE_PATHS) => `${[...paths].sort().join('\n')}\n`;

export const OFFSITE_SCRIPT = `#!/bin/sh
# infra-backup-offsite [backup | status | restore APP DIR] - installed by infra (docs/apps.md "Off-site").
# backup: restic backup of ${OFFSITE_DIR}/paths, then forget --prune by the inventory's policy;
# status: the repository's snapshots as JSON (what \`infra check\` reads); restore: the latest
# snapshot's copies of APP under DIR (what \`infra backup verify --from offsite\` drills).
set -eu
umask 077
conf=${OFFSITE_DIR}
state=${OFFSITE_STATE_DIR}
[ -f "$conf/env" ] && [ -f "$conf/password" ] || { echo "infra-backup-offsite: $conf is not set up (infra apply)" >&2; exit 2; }
set -a; . "$conf/env"; set +a
export RESTIC_PASSWORD_FILE="$conf/password" RESTIC_CACHE_DIR=/var/cache/infra-restic
# Only infra's snapshots of this host; grouped by host and tag, so adding a path keeps one history.
host=$(uname -n)
mkdir -p "$state"
${scratchDir('tmp')}; trap 'rm -rf "$tmp"' EXIT
r() { timeout "\${INFRA_RESTIC_TIMEOUT:-3600}" restic "$@"; }
record() { printf '%s %s %s\\n' "$1" "$(date +%s)" "$2" > "$state/last"; }
fail() { record failed "$*"; echo "infra-backup-offsite: $*" >&2; exit 1; }
why() { tail -n 1 "$tmp/err" | tr -d '\\r'; }
case "\${1:-backup}" in
  backup)
    rc=0; r cat config >/dev/null 2>"$tmp/err" || rc=$?
    if [ "$rc" -eq 10 ]; then
      r init >/dev/null 2>"$tmp/err" || fail "cannot create the repository at $RESTIC_REPOSITORY: $(why)"
    elif [ "$rc" -ne 0 ]; then
      fail "cannot open the repository at $RESTIC_REPOSITORY (restic exit $rc): $(why)"
    fi
    r unlock >/dev/null 2>&1 || true
    while read -r p; do if [ -e "$p" ]; then printf '%s\\n' "$p"; fi; done < "$conf/paths" > "$tmp/paths"
    [ -s "$tmp/paths" ] || { record ok "nothing to copy yet"; echo "nothing to copy yet"; exit 0; }
    r backup --host "$host" --tag infra --files-from "$tmp/paths" --json > "$tmp/out" 2>"$tmp/err" || fail "restic backup to $RESTIC_REPOSITORY failed: $(why)"
    id=$(grep '"message_type":"summary"' "$tmp/out" | sed -n 's/.*"snapshot_id":"\\([0-9a-f]*\\)".*/\\1/p' | cut -c 1-8)
    [ -n "$id" ] || fail "restic backup wrote no snapshot: $(why)"
    r forget --host "$host" --tag infra --group-by host,tags --prune --keep-daily "$INFRA_KEEP_DAILY" --keep-weekly "$INFRA_KEEP_WEEKLY" --keep-monthly "$INFRA_KEEP_MONTHLY" >/dev/null 2>"$tmp/err" || fail "snapshot $id saved, but forget --prune failed: $(why)"
    record ok "snapshot $id"
    echo "snapshot $id saved";;
  status)
    # Read-only (--no-lock: check writes nothing off-site). restic retries a failing server for up
    # to 15 minutes (internal/backend/retry): check waits 15 s.
    rc=0; INFRA_RESTIC_TIMEOUT=15 r snapshots --no-lock --host "$host" --tag infra --json > "$tmp/out" 2>"$tmp/err" || rc=$?
    # 10: reachable, no repository yet (the first copy creates it).
    if [ "$rc" -eq 0 ]; then echo "snapshots $(tr -d '\\n' < "$tmp/out")"; elif [ "$rc" -eq 10 ]; then echo "snapshots []"; elif [ "$rc" -eq 124 ]; then echo "unreachable 124 no answer within 15 s: $(why)"; else echo "unreachable $rc $(why)"; fi
    echo "last $(cat "$state/last" 2>/dev/null || echo none)"
    echo "now $(date +%s) $(find ${COPIES_DIR} -name '*.dump.sha256' 2>/dev/null | wc -l)";;
  restore)
    app="\${2:-}"; dir="\${3:-}"
    case "$app" in ''|*[!a-z0-9-]*) echo "infra-backup-offsite: bad app name" >&2; exit 2;; esac
    [ -d "$dir" ] || { echo "infra-backup-offsite: no directory $dir" >&2; exit 2; }
    r snapshots --host "$host" --tag infra --latest 1 --json > "$tmp/out" 2>"$tmp/err" || { echo "infra-backup-offsite: cannot read the snapshots of $RESTIC_REPOSITORY: $(why)" >&2; exit 1; }
    r restore latest --host "$host" --tag infra --target "$dir" --include "${COPIES_DIR}/$app" >/dev/null 2>"$tmp/err" || { echo "infra-backup-offsite: restic restore from $RESTIC_REPOSITORY failed: $(why)" >&2; exit 1; }
    sed -n 's/.*"time":"\\([^"]*\\)".*"short_id":"\\([0-9a-f]*\\)".*/snapshot \\2 \\1/p' "$tmp/out" | tail -n 1;;
  *) echo "usage: infra-backup-offsite [backup | status | restore APP DIR]" >&2; exit 2;;
esac
`;

export const offsiteServiceUnit = `# Installed by infra: the nightly off-site copy (docs/apps.md "Off-site").
[Unit]
Description=infra: restic copy of the control host's backups, off-site
Wants=network-online.target
After=network-online.target infra-backup-pull.service

[Service]
Type=oneshot
ExecStart=${OFFSITE_SCRIPT_PATH} backup
`;

/** After the pull (04:30 + up to 15 min), so tonight's copies go off-site tonight. */
export const offsiteTimerUnit = timerUnit({
  description: 'nightly off-site copy of the backups',
  onCalendar: '*-*-* 05:00:00',
  randomizedDelay: '15m',
});

export interface OffsiteState {
  reachable: boolean;
  /** Why not (restic's last line), when unreachable. */
  error: string;
  newestSec: number | null;
  snapshots: number;
  last: { ok: boolean; at: number; detail: string } | null;
  nowSec: number;
  copies: number;
}

/** Pure: the status lines; the snapshots line is restic's `snapshots --json` array. */
export function parseOffsiteStatus(out: string): OffsiteState {
  const line = (p: string) =>
    out
      .split('\n')
      .find((l) => l.startsWith(`${p} `))
      ?.slice(p.length + 1) ?? '';
  const snaps = line('snapshots');
  let newestSec: number | null = null;
  let count = 0;
  let reachable = false;
  if (out.split('\n').some((l) => l.startsWith('snapshots '))) {
    try {
      const list = JSON.parse(snaps || '[]') as { time?: string }[];
      reachable = true;
      count = list.length;
      for (const s of list) {
        const t = s.time ? Date.parse(s.time) / 1000 : Number.NaN;
        if (!Number.isNaN(t) && (newestSec === null || t > newestSec)) newestSec = Math.floor(t);
      }
    } catch {
      reachable = false;
    }
  }
  const last = /^(ok|failed) (\d+) ?(.*)$/.exec(line('last'));
  const now = /^(\d+) (\d+)$/.exec(line('now'));
  return {
    reachable,
    error: reachable ? '' : line('unreachable') || 'no answer',
    newestSec,
    snapshots: count,
    last: last ? { ok: last[1] === 'ok', at: Number(last[2]), detail: last[3] ?? '' } : null,
    nowSec: now ? Number(now[1]) : 0,
    copies: now ? Number(now[2]) : 0,
  };
}

/** Pure: unreachable, the last run failed, or the newest snapshot too old (none while copies exist). */
export function diffOffsite(
  o: Pick<OffsiteSettings, 'repository' | 'maxAgeHours'>,
  s: OffsiteState,
): Change[] {
  if (!s.reachable)
    return [
      {
        summary: `the off-site repository ${o.repository} cannot be read: ${s.error.replace(/^\d+ /, '')}`,
        kind: 'offsite-unreachable',
        expected: 'restic snapshots answers',
        actual: s.error,
      },
    ];
  if (s.last && !s.last.ok)
    return [
      {
        summary: `the last off-site copy failed: ${s.last.detail}`,
        kind: 'offsite-backup-failed',
        expected: 'the last off-site copy succeeded',
        actual: s.last.detail,
      },
    ];
  const hours = s.newestSec === null ? null : (s.nowSec - s.newestSec) / 3600;
  if (hours === null && s.copies === 0) return [];
  if (hours === null || hours > o.maxAgeHours)
    return [
      {
        summary:
          hours === null
            ? `no off-site snapshot in ${o.repository} yet: copy now`
            : `the newest off-site snapshot is ${Math.floor(hours)} h old (limit ${o.maxAgeHours} h): copy now`,
        kind: 'offsite-snapshot-stale',
        expected: `< ${o.maxAgeHours} h`,
        actual: hours === null ? null : `${Math.floor(hours)}h`,
      },
    ];
  return [];
}

export function offsiteTask(o: OffsiteSettings, after: string[]): Task<OffsiteState> {
  return {
    id: 'backup-offsite',
    after,
    probe: `if [ -x ${shq(OFFSITE_SCRIPT_PATH)} ]; then ${shCmd([OFFSITE_SCRIPT_PATH, 'status'])}; else echo 'unreachable 127 infra-backup-offsite is not installed yet'; fi`,
    parse: parseOffsiteStatus,
    diff: (s) => diffOffsite(o, s),
    apply: () => [{ script: shCmd([OFFSITE_SCRIPT_PATH, 'backup']), timeoutMs: 3 * 3600_000 }],
  };
}
