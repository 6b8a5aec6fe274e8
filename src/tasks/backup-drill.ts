import type { Change, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import { OFFSITE_SCRIPT_PATH } from './backup-offsite.js';
import { COPIES_DIR, PULL_CONF, PULL_KEY, PULL_KNOWN_HOSTS } from './backup-pull.js';
import { PULL_USER } from './backup-serve.js';
import { scratchDir } from './lib/file.js';
import { timerUnit } from './lib/systemd.js';
import { MANIFEST_PSQL_FLAGS, MANIFEST_SQL } from './pg-backup.js';

/**
 * The restore drill (docs/apps.md "Backups"), on the control host: a dump — the control host's
 * copy, or the apps host's file fetched through the read-only pull user — restored into a
 * throwaway PostgreSQL of the dump's major (a container with no network, removed afterwards),
 * then every table's row count and checksum compared with the manifest written at dump time.
 */
export const DRILL_SCRIPT_PATH = '/usr/local/sbin/infra-backup-drill';
export const DRILL_STATE_DIR = '/var/lib/infra-backup-drill';
export const DRILL_UNIT = 'infra-backup-drill';
/** A drill older than this (or a failed one) is reported by `check`: weekly plus a day. */
export const DRILL_STALE_AFTER_SEC = 8 * 86400;

export const DRILL_SCRIPT = `#!/bin/sh
# infra-backup-drill APP MAJOR control|offsite|apps:ADDR:PORT [NAME] - installed by infra; without
# arguments, the newest copy of every app of ${PULL_CONF}. Prints "row TABLE FOUND EXPECTED ok|…"
# per table and records the outcome in ${DRILL_STATE_DIR}/APP.last (what \`infra check\` reads).
set -eu
if [ "$#" -eq 0 ]; then
  rc=0
  [ -f ${PULL_CONF} ] || exit 0
  while read -r a addr port keep major _; do
    case "$a" in ''|'#'*) continue;; esac
    # An app with no copy yet (new: the night's pull makes the first) has nothing to drill, which
    # is no failed drill: a pull that fails is the copies' own finding (backup-copy-failed/-stale).
    ls -1 ${COPIES_DIR}/"$a" 2>/dev/null | grep -qE "^$a-[0-9]{8}T[0-9]{6}Z\\.dump\\.sha256$" ||
      { echo "infra-backup-drill: no copy of $a yet: nothing to drill"; continue; }
    "$0" "$a" "\${major:-18}" control </dev/null || rc=1
  done < ${PULL_CONF}
  exit "$rc"
fi
app="$1"; major="$2"; from="$3"; name="\${4:-}"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-backup-drill: bad app name" >&2; exit 2;; esac
case "$major" in ''|*[!0-9]*) echo "infra-backup-drill: bad major" >&2; exit 2;; esac
case "$name" in ''|"$app"-[0-9]*T[0-9]*Z.dump) ;; *) echo "infra-backup-drill: bad backup name" >&2; exit 2;; esac
mkdir -p ${DRILL_STATE_DIR}
${scratchDir('work', '/var/tmp/infra-drill')}
c="infra-drill-$app-$$"
trap 'docker rm -f "$c" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
record() { printf '%s %s %s %s %s\\n' "$1" "$(date +%s)" "\${name:-none}" "$from" "$2" > ${DRILL_STATE_DIR}/$app.last; }
fail() { record failed "$*"; echo "infra-backup-drill: $*" >&2; exit 1; }
# A copy in a directory (the control host's, or the off-site snapshot restored into one): the
# newest with its .sha256 unless NAME is given, checked against it.
from_dir() {
  dir=$1; where=$2
  [ -n "$name" ] || name=$(ls -1 "$dir" 2>/dev/null | grep -E "^$app-[0-9]{8}T[0-9]{6}Z\\.dump\\.sha256$" | sort | tail -n 1 | sed 's/\\.sha256$//')
  [ -n "$name" ] || fail "no copy of $app $where"
  [ -f "$dir/$name" ] && [ -f "$dir/$name.sha256" ] || fail "no copy $name of $app $where"
  (cd "$dir" && sha256sum --quiet -c "$name.sha256") >"$work/err" 2>&1 || fail "the copy $dir/$name fails its sha256 ($(tr '\\n' ' ' < "$work/err")): it is corrupt, never restore it"
  cp "$dir/$name" "$work/dump"; cp "$dir/$name.manifest" "$work/manifest" 2>/dev/null || true
}
case "$from" in
  control) from_dir ${COPIES_DIR}/$app "on this host";;
  offsite)
    mkdir "$work/r"
    ${OFFSITE_SCRIPT_PATH} restore "$app" "$work/r" > "$work/snap" 2>"$work/err" || fail "$(tail -n 1 "$work/err" | sed 's/^infra-backup-offsite: //')"
    cat "$work/snap"
    from_dir "$work/r${COPIES_DIR}/$app" "in the off-site $(cat "$work/snap")";;
  apps:*)
    hp=\${from#apps:}; addr=\${hp%:*}; port=\${hp##*:}
    r() { ssh -i ${PULL_KEY} -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${PULL_KNOWN_HOSTS} -o ConnectTimeout=15 -p "$port" ${PULL_USER}@"$addr" "$@"; }
    [ -n "$name" ] || name=$(r list "$app" | awk '{print $1}' | sort | tail -n 1)
    [ -n "$name" ] || fail "no backup of $app on $addr"
    r sum "$app" "$name" > "$work/sum" && r manifest "$app" "$name" > "$work/manifest" && r get "$app" "$name" > "$work/dump" || fail "cannot fetch $name from $addr"
    [ "$(awk -v n="$name" '$2 == n {print $1}' "$work/sum")" = "$(sha256sum < "$work/dump" | awk '{print $1}')" ] || fail "$name on $addr fails its sha256: it is corrupt, never restore it";;
  *) echo "infra-backup-drill: expected control, offsite or apps:ADDR:PORT" >&2; exit 2;;
esac
[ -s "$work/manifest" ] || fail "$name has no manifest (taken before infra wrote manifests): nothing to compare with"
m=$(awk -F '\\t' '$1 == "major" {print $2}' "$work/manifest"); case "$m" in ''|*[!0-9]*) ;; *) major=$m;; esac
docker run -d --name "$c" --network none -e POSTGRES_USER=drill -e POSTGRES_PASSWORD=drill -e POSTGRES_DB="$app" "postgres:$major" >/dev/null 2>"$work/err" || fail "cannot start postgres:$major: $(tail -n 1 "$work/err")"
i=0; until docker exec "$c" pg_isready -q -h 127.0.0.1 -U drill -d "$app" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -lt 240 ] || fail "the throwaway postgres:$major did not start"; sleep 0.5; done
docker exec -i "$c" pg_restore -U drill -d "$app" --no-owner --no-acl --single-transaction --exit-on-error < "$work/dump" 2>"$work/err" || fail "pg_restore of $name failed: $(tail -n 1 "$work/err")"
docker exec -i "$c" psql -U drill -d "$app" ${MANIFEST_PSQL_FLAGS} > "$work/found" 2>"$work/err" <<'SQL' || fail "reading the restored tables failed: $(tail -n 1 "$work/err")"
${MANIFEST_SQL}SQL
# Join on the table name: every table of the manifest must be found with its rows and checksum.
awk -F '\\t' 'NR == FNR { if ($1 == "table") { r[$2] = $3; h[$2] = $4 } next }
  $1 == "table" { want[$2] = $3; wh[$2] = $4; order[++n] = $2 }
  END { bad = 0
    for (i = 1; i <= n; i++) { t = order[i]
      if (!(t in r)) { s = "missing"; f = 0 } else if (r[t] != want[t]) { s = "rows-differ"; f = r[t] } else if (h[t] != wh[t]) { s = "checksum-differs"; f = r[t] } else { s = "ok"; f = r[t] }
      if (s != "ok") bad++
      printf "row %s %s %s %s\\n", t, f, want[t], s }
    for (t in r) if (!(t in want)) { printf "row %s %s 0 extra\\n", t, r[t]; bad++ }
    exit bad > 0 }' "$work/found" "$work/manifest" > "$work/rows" || { cat "$work/rows"; fail "$name does not match its manifest: $(grep -v ' ok$' "$work/rows" | cut -d ' ' -f 2,5 | tr '\\n' ' ')"; }
cat "$work/rows"
record ok "$(wc -l < "$work/rows") tables match"
echo "drill $name ok"
`;

export function runDrillScript(app: string, major: number, from: string, name?: string): string {
  return shCmd([DRILL_SCRIPT_PATH, app, major, from, ...(name ? [name] : [])]);
}

export const drillServiceUnit = `# Installed by infra: the weekly restore drill of every app's newest copy (docs/apps.md "Backups").
[Unit]
Description=infra: restore drill of the apps' backups
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${DRILL_SCRIPT_PATH}
`;

export const drillTimerUnit = timerUnit({
  description: "weekly restore drill of the apps' backups",
  onCalendar: 'Sun *-*-* 05:30:00',
  randomizedDelay: '30m',
});

export interface DrillState {
  last: { ok: boolean; ageSec: number; name: string; detail: string } | null;
  /** Age of the newest copy, to tell "never drilled" from "nothing to drill yet". */
  newestCopyAgeSec: number | null;
}

export function parseDrillState(out: string): DrillState {
  const [l1 = '', l2 = ''] = out.split('\n');
  const m = /^(ok|failed) (\d+) (\S+) (\S+) ?(.*)$/.exec(l1.trim());
  const now = /^now (\d+)(?: (\d+))?$/.exec(l2.trim());
  const nowSec = now ? Number(now[1]) : 0;
  return {
    last: m ? { ok: m[1] === 'ok', ageSec: nowSec - Number(m[2]), name: m[3]!, detail: m[5] ?? '' } : null,
    newestCopyAgeSec: now?.[2] ? nowSec - Number(now[2]) : null,
  };
}

/** Pure: a failed drill, one older than 8 days, or copies older than 8 days never drilled. */
export function diffDrill(app: string, s: DrillState): Change[] {
  const days = (sec: number) => Math.floor(sec / 86400);
  if (s.last && !s.last.ok)
    return [
      {
        summary: `the last restore drill of ${app} failed (${s.last.name}): ${s.last.detail}`,
        kind: 'backup-drill-failed',
        expected: 'the last drill passed',
        actual: s.last.detail,
      },
    ];
  if (s.last && s.last.ageSec > DRILL_STALE_AFTER_SEC)
    return [
      {
        summary: `the last restore drill of ${app} is ${days(s.last.ageSec)} days old: drill again`,
        kind: 'backup-drill-stale',
        expected: '< 8 days',
        actual: `${days(s.last.ageSec)}d`,
      },
    ];
  if (!s.last && s.newestCopyAgeSec !== null && s.newestCopyAgeSec > DRILL_STALE_AFTER_SEC)
    return [
      {
        summary: `${app}'s copies were never restored in a drill: drill now`,
        kind: 'backup-drill-stale',
        expected: '< 8 days',
        actual: null,
      },
    ];
  return [];
}

/** The drill of one app's copies, into a throwaway server of the app's `major`. */
export function backupDrillTask(
  want: { app: string; major: number },
  after: string[] = [],
): Task<DrillState> {
  const { app, major } = want;
  const d = shq(`${COPIES_DIR}/${app}`);
  return {
    id: `backup-drill:${app}`,
    after,
    probe: `head -n 1 ${shq(`${DRILL_STATE_DIR}/${app}.last`)} 2>/dev/null || echo none\nf=$(ls -1t ${d}/*.dump.sha256 2>/dev/null | head -n 1); echo "now $(date +%s)\${f:+ $(stat -c %Y "$f")}"`,
    parse: parseDrillState,
    diff: (s) => diffDrill(app, s),
    apply: () => [{ script: runDrillScript(app, major, 'control'), timeoutMs: 60 * 60_000 }],
  };
}
