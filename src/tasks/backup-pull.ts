import { shCmd } from '../quote.js';
import { PULL_USER } from './backup-serve.js';
import { scratchFile } from './lib/file.js';
import { timerUnit } from './lib/systemd.js';

/**
 * The control host's side of the off-host copies (docs/apps.md "Backups"). It pulls: over the
 * tailnet, as the apps host's read-only PULL_USER, with its own key (generated on the control
 * host, never leaving it but for its public half). Copies live under COPIES_DIR/APP, root's,
 * 0700/0600; the apps host holds no credential for the control host at all.
 */
export const PULL_DIR = '/etc/infra/backup-pull';
export const PULL_KEY = `${PULL_DIR}/id_ed25519`;
export const PULL_KNOWN_HOSTS = `${PULL_DIR}/known_hosts`;
export const PULL_CONF = `${PULL_DIR}/apps.conf`;
export const PULL_SCRIPT_PATH = '/usr/local/sbin/infra-backup-pull';
export const COPIES_DIR = '/var/backups/infra-copies';
export const copiesDir = (app: string) => `${COPIES_DIR}/${app}`;
/** Why the last pull of an app failed (tmpfs: writable when the backup disk is full). */
export const PULL_FAILED_DIR = '/run/infra-backup-pull';
export const PULL_UNIT = 'infra-backup-pull';
/** A copy older than this is stale: the nightly dump (02:30–03:00) plus the pull (04:30) plus slack. */
export const COPY_STALE_AFTER_SEC = 28 * 3600;

/**
 * With APP ADDR PORT KEEP_DAYS: copies the app's dumps that are not here yet; without: every app of
 * PULL_CONF. A copy counts only once its sha256 matched: it is fetched to a dot-name `.partial`,
 * checked against the apps host's `.sha256` (which also covers the manifest), and renamed into
 * place dump first, checksum last — an interrupted or failed transfer leaves no file the listing
 * counts, and the next run removes the leftovers. An existing copy is never fetched again, so the
 * apps host cannot overwrite one. Retention is by the stamp in the name against this host's clock
 * (the newest copy is never pruned).
 */
export const PULL_SCRIPT = `#!/bin/sh
# infra-backup-pull [APP ADDR PORT KEEP_DAYS] - installed by infra; see docs/apps.md "Backups".
set -eu
if [ "$#" -eq 0 ]; then
  rc=0
  [ -f ${PULL_CONF} ] || exit 0
  while read -r a addr port keep _; do
    case "$a" in ''|'#'*) continue;; esac
    "$0" "$a" "$addr" "$port" "$keep" </dev/null || rc=1
  done < ${PULL_CONF}
  exit "$rc"
fi
app="$1"; addr="$2"; port="$3"; keep="$4"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-backup-pull: bad app name" >&2; exit 2;; esac
dir=${COPIES_DIR}/$app
${scratchFile('err')}
fail() {
  set +f
  rm -f "$dir"/.*.partial
  mkdir -p ${PULL_FAILED_DIR}
  printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" > ${PULL_FAILED_DIR}/$app.failed || true
  echo "infra-backup-pull: $app: $*" >&2
  exit 1
}
trap 'rm -f "$err"' EXIT
r() {
  ssh -i ${PULL_KEY} -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \\
    -o UserKnownHostsFile=${PULL_KNOWN_HOSTS} -o ConnectTimeout=15 -o ServerAliveInterval=15 \\
    -p "$port" ${PULL_USER}@"$addr" "$@"
}
free() { df -h --output=avail "$dir" 2>/dev/null | tail -n 1 | tr -d ' '; }
mkdir -p "$dir" && chmod 700 ${COPIES_DIR} "$dir" || fail "cannot create $dir"
rm -f "$dir"/.*.partial
list=$(r list "$app" 2>"$err") || fail "cannot list the dumps on $addr: $(tail -n 1 "$err")"
pw="$dir/.pg_password.partial"
(umask 077; r password "$app" > "$pw" 2>"$err") && [ -s "$pw" ] || fail "cannot copy the password of $app ($(tail -n 1 "$err")); is $dir full? $(free) free; older copies are kept"
cmp -s "$pw" "$dir/pg_password" 2>/dev/null && rm -f "$pw" || mv -f "$pw" "$dir/pg_password"
new=0
set -f
for name in $(printf '%s\\n' "$list" | awk '{print $1}'); do
  case "$name" in "$app"-[0-9]*T[0-9]*Z.dump) ;; *) continue;; esac
  case "$name" in *[!a-zA-Z0-9.-]*) continue;; esac
  [ -f "$dir/$name" ] && [ -f "$dir/$name.sha256" ] && continue
  p="$dir/.$name"
  (umask 077; r sum "$app" "$name" > "$p.sha256.partial") 2>"$err" || fail "cannot read the checksum of $name: $(tail -n 1 "$err")"
  (umask 077; r manifest "$app" "$name" > "$p.manifest.partial") 2>"$err" || fail "cannot copy the manifest of $name: $(tail -n 1 "$err")"
  (umask 077; r get "$app" "$name" > "$p.partial") 2>"$err" || fail "the copy of $name failed ($(tail -n 1 "$err")); is $dir full? $(free) free; older copies are kept"
  want=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1}' "$p.sha256.partial")
  got=$(sha256sum < "$p.partial" | awk '{print $1}')
  [ -n "$want" ] && [ "$want" = "$got" ] || fail "$name arrived with sha256 $got, the apps host's checksum says \${want:-nothing}: not kept"
  mwant=$(awk -v n="$name.manifest" '$2 == n || $2 == "*" n {print $1}' "$p.sha256.partial")
  if [ -n "$mwant" ]; then
    [ "$(sha256sum < "$p.manifest.partial" | awk '{print $1}')" = "$mwant" ] || fail "the manifest of $name does not match its checksum: not kept"
    mv -f "$p.manifest.partial" "$dir/$name.manifest"
  else rm -f "$p.manifest.partial"; fi
  mv -f "$p.partial" "$dir/$name"
  mv -f "$p.sha256.partial" "$dir/$name.sha256"
  new=$((new + 1))
done
set +f
cutoff=$(date -u -d "-$keep days" +%Y%m%dT%H%M%SZ)
newest=$(cd "$dir" && ls -1 | grep -E "^$app-[0-9]{8}T[0-9]{6}Z\\.dump$" | sort | tail -n 1 || true)
for f in "$dir/$app"-*.dump; do
  [ -f "$f" ] || continue
  b=$(basename "$f"); s=\${b#"$app"-}; s=\${s%.dump}
  [ "$b" = "$newest" ] && continue
  [ "$(printf '%s\\n%s\\n' "$s" "$cutoff" | sort | head -n 1)" = "$s" ] && [ "$s" != "$cutoff" ] && rm -f "$f" "$f.sha256" "$f.manifest"
done
rm -f ${PULL_FAILED_DIR}/$app.failed
n=$(cd "$dir" && ls -1 | grep -cE "^$app-.*\\.dump$" || true)
echo "$app: $new new, $n cop$( [ "$n" = 1 ] && echo y || echo ies) in $dir"
`;

export interface PullTarget {
  app: string;
  address: string;
  port: number;
  keepDays: number;
  /** The app's PostgreSQL major: the weekly drill's throwaway server. */
  major: number;
}

/** Pure: the nightly run's list, one app a line. */
export function pullConf(targets: readonly PullTarget[]): string {
  return `# Installed by infra: the apps whose dumps this host copies (APP ADDRESS PORT KEEP_DAYS MAJOR).\n${targets
    .map((t) => `${t.app} ${t.address} ${t.port} ${t.keepDays} ${t.major}\n`)
    .join('')}`;
}

export function runPullScript(t: PullTarget): string {
  return shCmd([PULL_SCRIPT_PATH, t.app, t.address, t.port, t.keepDays]);
}

export const pullServiceUnit = `# Installed by infra: copy every app's dumps from its apps host (docs/apps.md "Backups").
[Unit]
Description=infra: copy the apps' backups to this host
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=${PULL_SCRIPT_PATH}
`;

/** After the apps hosts' dumps (02:30 + up to 30 min): 04:30, + up to 15 min. */
export const pullTimerUnit = timerUnit({
  description: "nightly copy of the apps' backups",
  onCalendar: '*-*-* 04:30:00',
  randomizedDelay: '15m',
});
