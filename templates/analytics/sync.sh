#!/bin/sh
# infra-analytics-sync [APP] - installed by infra (src/tasks/analytics-nightly.ts); see
# docs/analytics.md "(b) nightly". Without APP: every app of the list, one after another.
# Per app: the newest counted copy the control host pulled (one with its .sha256) is checked
# against its sha256, restored into a NEW database APP_<stamp>, compared with its manifest's row
# counts, and swapped in with one ALTER SERVER (a transaction already reading keeps the previous
# copy until it ends); then recorded, and the previous copy dropped once nobody reads it. A failure
# keeps the previous copy serving and writes why to /run/infra-analytics/APP.failed.
set -eu
CONF=/etc/infra/analytics/apps.conf
COPIES=/var/backups/infra-copies
STATE=/var/lib/infra-analytics
FAILED=/run/infra-analytics
STACK=/srv/infra/stacks/analytics
if [ "$#" -eq 0 ]; then
  rc=0
  [ -f "$CONF" ] || exit 0
  while read -r a _; do
    case "$a" in ''|'#'*) continue;; esac
    "$0" "$a" </dev/null || rc=1
  done < "$CONF"
  exit "$rc"
fi
app="$1"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-analytics-sync: bad app name" >&2; exit 2;; esac
id=$(printf %s "$app" | tr - _)
dir="$COPIES/$app"
mkdir -p "$STATE" "$FAILED"
chmod 700 "$STATE"
# One sync at a time on this host (the timer, apply, infra analytics sync).
exec 9>"$FAILED/.lock"
flock 9
work=$(mktemp -d /var/tmp/infra-analytics.XXXXXX)
new=
swapped=
dc() { docker compose -p analytics -f "$STACK/compose.yaml" "$@"; }
q() { db="$1"; shift; dc exec -T db psql -U analytics -d "$db" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() {
  # Before the swap the new database is nobody's: dropped (a process that died leaves it to the
  # next run's cleanup). After it, it serves: never dropped here.
  if [ -n "$new" ] && [ -z "$swapped" ]; then q analytics -c "drop database if exists \"$new\"" >/dev/null 2>&1 || true; fi
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" > "$FAILED/$app.failed" || true
  echo "infra-analytics-sync: $app: $*" >&2
  exit 1
}
trap 'rm -rf "$work"' EXIT
# The error's own line (psql's DETAIL/HINT lines follow it), else the last line.
last() { grep -m 1 -E '(ERROR|FATAL|error):' "$work/err" || tail -n 1 "$work/err"; }
record() {
  sum=$(awk -v n="$name" '$2 == n || $2 == "*" n {print $1}' "$dir/$name.sha256")
  printf '%s %s %s\n' "$stamp" "${sum:--}" "$(date +%s)" > "$STATE/.$app.synced.tmp"
  mv -f "$STATE/.$app.synced.tmp" "$STATE/$app.synced"
  rm -f "$FAILED/$app.failed"
}
# Drops every copy of this app the server does not point at: idle sessions on it first (cached
# postgres_fdw connections of idle sessions, never used again: connection.c pgfdw_inval_callback),
# then DROP DATABASE without FORCE, so a transaction still reading an old copy keeps it.
cleanup() {
  for d in $(q analytics -c "select datname from pg_database where datname ~ '^${id}_[0-9]{8}t[0-9]{6}z\$' and datname <> '$1' order by 1"); do
    q analytics -c "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = '$d' and state = 'idle'" >/dev/null 2>&1 || true
    if q analytics -c "drop database \"$d\"" >/dev/null 2>"$work/err"; then echo "$app: dropped the previous copy $d"
    else echo "$app: kept $d: $(last) (the next sync drops it)"; fi
  done
}
name=$(ls -1 "$dir" 2>/dev/null | grep -E "^$app-[0-9]{8}T[0-9]{6}Z\\.dump\\.sha256\$" | sort | tail -n 1 | sed 's/\.sha256$//')
[ -n "$name" ] || fail "no copy of $app in $dir yet (the nightly pull makes one; now: infra backup $app)"
stamp=${name#"$app"-}; stamp=${stamp%.dump}
target="${id}_$(printf %s "$stamp" | tr 'TZ' 'tz')"
cur=$(q analytics -c "select coalesce((select substr(o, 8) from pg_foreign_server s, unnest(s.srvoptions) o where s.srvname = '$id' and o like 'dbname=%'), '-')" 2>"$work/err") || fail "the analytics instance does not answer: $(last)"
[ "$cur" != "-" ] || fail "the analytics database has no foreign server $id (run: infra apply)"
if [ "$cur" = "$target" ]; then
  record
  cleanup "$target"
  echo "$app: $name serves already (nothing new)"
  exit 0
fi
# 2. Verify (the .sha256 covers the dump and its manifest).
(cd "$dir" && sha256sum --quiet -c "$name.sha256") >"$work/err" 2>&1 || fail "the copy $dir/$name fails its sha256 ($(tr '\n' ' ' < "$work/err")): it is corrupt, not restored"
# 3. Restore into a new database (a leftover of a crashed run under that name is not the current one).
q analytics -c "drop database if exists \"$target\"" >/dev/null 2>"$work/err" || fail "cannot drop the leftover $target: $(last)"
new=$target
q analytics -c "create database \"$new\"" -c "revoke connect, temporary on database \"$new\" from public" -c "grant connect on database \"$new\" to analytics_fdw" >/dev/null 2>"$work/err" || fail "cannot create the database $new: $(last)"
t0=$(date +%s)
dc exec -T db pg_restore -U analytics -d "$new" --no-owner --no-acl --single-transaction --exit-on-error < "$dir/$name" 2>"$work/err" || fail "pg_restore of $name failed: $(last)"
q "$new" -c 'grant usage on schema public to analytics_fdw' -c 'grant select on all tables in schema public to analytics_fdw' -c 'analyze' >/dev/null 2>"$work/err" || fail "cannot grant the copy to analytics_fdw: $(last)"
# The manifest's row counts (the drill's source of truth): a copy that restored short is never swapped in.
if [ -s "$dir/$name.manifest" ]; then
  q "$new" -F "$(printf '\t')" > "$work/found" 2>"$work/err" <<'SQL' || fail "cannot count the restored rows: $(last)"
SELECT format('SELECT %L, %L, count(*) FROM %I.%I', 'table', n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
ORDER BY n.nspname, c.relname
\gexec
SQL
  bad=$(awk -F '\t' 'FILENAME == ARGV[1] { if ($1 == "table") r[$2] = $3; next } $1 == "table" && r[$2] != $3 { printf "%s %s/%s ", $2, ($2 in r ? r[$2] : "missing"), $3 }' "$work/found" "$dir/$name.manifest")
  [ -z "$bad" ] || fail "the restored $name does not match its manifest (table found/expected: $bad): not swapped in"
fi
# 4. Swap in one transaction: the server's dbname; new tables imported, changed or dropped ones
# replaced (DROP FOREIGN TABLE waits for readers of that table: lock_timeout, 3 tries).
sig="select table_name || '|' || string_agg(column_name || ' ' || data_type, ',' order by ordinal_position) from information_schema.columns where table_schema = '%s' group by table_name order by 1"
q "$new" -c "$(printf "$sig" public)" > "$work/new" 2>"$work/err" || fail "cannot read the copy's tables: $(last)"
q analytics -c "$(printf "$sig" "$id")" > "$work/cur" 2>"$work/err" || fail "cannot read the foreign tables of $id: $(last)"
ident() { printf '"%s"' "$(printf %s "$1" | sed 's/"/""/g')"; }
import=; drop=
for t in $(awk -F '|' 'FILENAME == ARGV[1] { c[$1] = $2; next } !($1 in c) || c[$1] != $2 { print $1 }' "$work/cur" "$work/new"); do import="$import${import:+, }$(ident "$t")"; done
for t in $(awk -F '|' 'FILENAME == ARGV[1] { n[$1] = $2; next } ($1 in n) && n[$1] != $2 || !($1 in n) { print $1 }' "$work/new" "$work/cur"); do drop="$drop $(ident "$id").$(ident "$t")"; done
{ echo "begin;"
  echo "set local lock_timeout = '5s';"
  for t in $drop; do echo "drop foreign table $t;"; done
  echo "alter server $id options (set dbname '$new');"
  [ -z "$import" ] || echo "import foreign schema public limit to ($import) from server $id into $id;"
  echo "commit;"; } > "$work/swap.sql"
i=0
until q analytics < "$work/swap.sql" >/dev/null 2>"$work/err"; do
  grep -q 'lock timeout' "$work/err" || fail "the swap to $new failed: $(last)"
  i=$((i + 1))
  [ "$i" -lt 3 ] || fail "blocked by a long query on $id (replacing a changed table waited 3 x 5 s): the previous copy stays"
  sleep 2
done
swapped=1
# 5. Record, 6. drop the previous copy.
record
echo "$app: $name restored into $new and swapped in ($(( $(date +%s) - t0 ))s)"
cleanup "$new"
