import { shCmd, shq } from '../quote.js';
import { scratchFile } from './lib/file.js';
import { APPS_DIR } from './postgres-app.js';

/** Dumps live beside their checksum: /var/backups/infra/<app>/<app>-<UTC stamp>.dump{,.sha256}. */
export const BACKUPS_DIR = '/var/backups/infra';
export const BACKUP_SCRIPT_PATH = '/usr/local/sbin/infra-pg-backup';
export const backupDir = (app: string) => `${BACKUPS_DIR}/${app}`;
/** Why the last backup of an app failed, if it did (tmpfs: writable when the disk is full). */
export const FAILED_DIR = '/run/infra-pg-backup';
/** Backups older than this count as stale in `check` (a nightly timer plus slack). */
export const STALE_AFTER_SEC = 26 * 3600;

/**
 * The manifest of a database, written beside each dump and compared by the restore drill: per
 * table (every ordinary table outside the system schemas), its exact row count and the md5 of
 * the sorted md5s of its rows' text forms (order-independent, so a restore that puts rows back
 * in another physical order still matches). psql's \\gexec runs the one SELECT per table that
 * the first query writes. Output: `table<TAB>schema.name<TAB>rows<TAB>md5` lines, sorted.
 * Source: psql's \\gexec (https://www.postgresql.org/docs/current/app-psql.html), `t::text` of a
 * whole-row reference is the row's composite text form (rowtypes.html, "Composite Type Input and
 * Output Syntax") — deterministic for the same major, which is what the drill restores into.
 */
export const MANIFEST_SQL = `SELECT format('SELECT %L, %L, count(*), coalesce(md5(string_agg(h, %L ORDER BY h)), %L) FROM (SELECT md5(t::text) AS h FROM %I.%I t) s', 'table', n.nspname || '.' || c.relname, '', '', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
ORDER BY n.nspname, c.relname
\\gexec
`;

/** psql flags for the manifest: unaligned, tuples only, tab-separated, quiet, stop on error. */
export const MANIFEST_PSQL_FLAGS = '-X -q -A -t -v ON_ERROR_STOP=1 -F "$(printf \'\\t\')"';

/**
 * The one dump procedure, placed on the host so the nightly timer and `infra backup` run the same
 * thing: pg_dump in custom format inside the app's container (no TTY), written to a temp name,
 * checksummed, renamed; then dumps older than the retention are pruned (never the newest).
 */
export const BACKUP_SCRIPT = `#!/bin/sh
# infra-pg-backup APP [RETENTION_DAYS] - installed by infra; prints the path of the new dump.
# A failed run leaves no dump behind (a partial file is never renamed to a dump name) and records
# why in ${FAILED_DIR}/APP.failed (memory, so it can be written when the disk is full), which
# \`infra check\` reports until a backup succeeds.
set -eu
app="$1"; keep="\${2:-14}"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-pg-backup: bad app name" >&2; exit 2;; esac
stack=${APPS_DIR}/$app
dir=${BACKUPS_DIR}/$app
${scratchFile('err')}
fail() {
  mkdir -p ${FAILED_DIR}
  printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" > ${FAILED_DIR}/$app.failed || true
  echo "infra-pg-backup: $*" >&2
  exit 1
}
mkdir -p "$dir"; chmod 700 ${BACKUPS_DIR} "$dir"
name="$app-$(date -u +%Y%m%dT%H%M%SZ).dump"
tmp="$dir/.$name.partial"
trap 'rm -f "$tmp" "$dir/.$name.manifest.partial" "$err"' EXIT
dc() { docker compose -p "$app" -f "$stack/compose.yaml" "$@"; }
dc exec -T db pg_dump -U "$app" -d "$app" -Fc > "$tmp" 2>"$err" || fail "pg_dump of $app failed: $(tail -n 1 "$err")"
[ -s "$tmp" ] || fail "empty dump of $app"
# The whole archive must read back: a short write (a full disk) leaves a truncated file.
dc exec -T db pg_restore -f /dev/null < "$tmp" 2>"$err" || fail "the dump of $app does not read back whole ($(tail -n 1 "$err")); is $dir full? $(df -h --output=avail "$dir" | tail -n 1 | tr -d ' ') free"
# The manifest the restore drill compares with (a separate read right after the dump: a write
# in between makes the drill report a difference, never hide one). First line: the major.
mtmp="$dir/.$name.manifest.partial"
{ printf 'major\\t%s\\n' "$(cat "$stack/pg-major" 2>/dev/null || echo unknown)"
  dc exec -T db psql -U "$app" -d "$app" ${MANIFEST_PSQL_FLAGS} <<'SQL'
${MANIFEST_SQL}SQL
} > "$mtmp" 2>"$err" || fail "the manifest of $app failed: $(tail -n 1 "$err")"
chmod 600 "$tmp" "$mtmp"
mv -f "$mtmp" "$dir/$name.manifest"
mv -f "$tmp" "$dir/$name"
(cd "$dir" && sha256sum "$name" "$name.manifest" > "$name.sha256" && chmod 600 "$name.sha256") 2>"$err" || {
  rm -f "$dir/$name" "$dir/$name.sha256" "$dir/$name.manifest"
  fail "could not write the checksum of $name: $(tail -n 1 "$err")"
}
rm -f ${FAILED_DIR}/$app.failed
newest="$name"
find "$dir" -maxdepth 1 -type f -name "$app-*.dump" -mtime +"$keep" ! -name "$newest" | while read -r old; do
  rm -f "$old" "$old.sha256" "$old.manifest"
done
echo "$dir/$name"
`;

export interface BackupEntry {
  name: string;
  size: number;
  /** Unix seconds. */
  mtime: number;
  hasChecksum: boolean;
}

export const BACKUP_NAME = /^([a-z][a-z0-9-]*)-(\d{8}T\d{6}Z)\.dump$/;

/** `ls`-free listing: one `name size mtime checksum?` line per dump, newest first after parsing. */
export function listBackupsScript(app: string): string {
  const d = shq(backupDir(app));
  return `[ -d ${d} ] || exit 0\ncd ${d} && for f in ${shq(app)}-*.dump; do [ -f "$f" ] || continue; c=no; [ -f "$f.sha256" ] && c=yes; printf '%s %s %s %s\\n' "$f" "$(stat -c %s "$f")" "$(stat -c %Y "$f")" "$c"; done`;
}

export function parseBackupList(app: string, stdout: string): BackupEntry[] {
  const out: BackupEntry[] = [];
  for (const line of stdout.split('\n')) {
    const [name = '', size = '', mtime = '', c = ''] = line.trim().split(' ');
    const m = BACKUP_NAME.exec(name);
    if (!m || m[1] !== app) continue;
    out.push({ name, size: Number(size), mtime: Number(mtime), hasChecksum: c === 'yes' });
  }
  return out.sort((a, b) => b.name.localeCompare(a.name));
}

/** Pure: validates a backup name given by the user (it reaches a path and a command). */
export function checkBackupName(app: string, name: string): string | undefined {
  const base = name.includes('/') ? name.slice(name.lastIndexOf('/') + 1) : name;
  const m = BACKUP_NAME.exec(base);
  if (!m || m[1] !== app) return undefined;
  return base;
}

export function runBackupScript(app: string, retentionDays: number): string {
  return shCmd([BACKUP_SCRIPT_PATH, app, retentionDays]);
}

/** Exit 3 means the checksum is missing or wrong: the caller refuses with its own message. */
export function verifyScript(app: string, name: string): string {
  return `cd ${shq(backupDir(app))} && [ -f ${shq(name)} ] || exit 4\n[ -f ${shq(`${name}.sha256`)} ] || exit 3\nsha256sum --status -c ${shq(`${name}.sha256`)} || exit 3`;
}

/** pg_restore into the running database, in one transaction: it applies fully or not at all. */
export function restoreScript(app: string, name: string): string {
  return [
    verifyScript(app, name),
    `${shCmd(['docker', 'compose', '-p', app, '-f', `${APPS_DIR}/${app}/compose.yaml`, 'exec', '-T', 'db', 'pg_restore', '-U', app, '-d', app, '--clean', '--if-exists', '--no-owner', '--single-transaction', '--exit-on-error'])} < ${shq(`${backupDir(app)}/${name}`)}`,
  ].join('\n');
}

/** Pure: `sha256sum` file line -> hex digest. */
export function parseChecksumLine(line: string): string | undefined {
  return /^([0-9a-f]{64})(\s|$)/.exec(line.trim())?.[1];
}

export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u ? v.toFixed(1) : v} ${units[u]}`;
}
