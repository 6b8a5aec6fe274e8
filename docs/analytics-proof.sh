#!/bin/sh
# docs/analytics-proof.sh [APP_IMAGE [ANALYTICS_IMAGE]] — the evidence behind docs/analytics.md (a design, not built yet).
#
# Runs the two riskiest claims of the analytics design against REAL PostgreSQL (default: the lab's
# infra-lab/postgres:18, PostgreSQL 18.6; pass infra-lab/postgres:16 or :17 for the other majors;
# a second image runs the analytics instance on another major than the app, e.g. `:16 :18` — the
# deployment's case, the analytics instance being at least the newest app's major):
#   (i)   a cross-database join through postgres_fdw as the read-only role works, and every write
#         through it (INSERT, UPDATE, TRUNCATE; also as the foreign tables' owner) is refused;
#   (ii)  the nightly swap (ALTER SERVER … OPTIONS (SET dbname …) in one transaction): a transaction
#         open across it keeps reading the previous complete copy, a new session reads the new one;
#         the old database can be dropped once no transaction uses it; a failed restore leaves the
#         current copy in place;
#   (iii) logical replication into a per-app database that keeps the app's `public` schema, a
#         new table brought in by schema copy + ALTER SUBSCRIPTION … REFRESH PUBLICATION, and why the
#         publication lists tables (a published table without a replica identity breaks the app's
#         UPDATEs);
#   (iv)  a stopped subscriber cannot fill the app's disk: past max_slot_wal_keep_size the slot is
#         invalidated (wal_status lost), the subscription is refused, and a resync restores it.
# Two containers on a user-defined network this script creates; nothing is published on any host
# port; everything is removed on exit. Exits 1 at the first claim that does not hold.
set -eu
IMG=${1:-infra-lab/postgres:18}
IMG_AN=${2:-$IMG}
ID=aproof-$$
NET=$ID-net
APP=$ID-app        # stands for the apps host's PostgreSQL (xhosa's, and beanstock's dump source)
AN=$ID-analytics   # the analytics instance
TMP=$(mktemp -d)
pw() { tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24; }
SU_PW=$(pw); RO_PW=$(pw); FDW_PW=$(pw); REPL_PW=$(pw)
export RO_PW FDW_PW

cleanup() {
  docker rm -f "$APP" "$AN" >/dev/null 2>&1 || true
  docker network rm "$NET" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok    $*"; }
# q CONTAINER DB [psql args…]: superuser over the container's socket (the image trusts local).
q() { c=$1 db=$2; shift 2; docker exec -i "$c" psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$(sup "$c")" -d "$db" "$@"; }
sup() { if [ "$1" = "$APP" ]; then echo xhosa; else echo analytics; fi; }
# ro [psql args…]: the consumers' read-only role, over TCP with its password (as Metabase would).
ro() { docker exec -i -e PGPASSWORD="$RO_PW" "$AN" psql -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -U analytics_ro -d analytics "$@"; }
# refused DESCRIPTION PATTERN command…: the command must fail with an error matching PATTERN.
refused() {
  d=$1 p=$2; shift 2
  if out=$("$@" 2>&1); then fail "$d was accepted: $out"; fi
  echo "$out" | grep -q "$p" || fail "$d failed otherwise than expected: $out"
  ok "$d refused: $(echo "$out" | grep -m1 -E "ERROR|FATAL" | sed -E "s/^.*(ERROR|FATAL): *//")"
}
ready() {
  i=0
  until docker exec "$1" pg_isready -q -h 127.0.0.1 >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 120 ] || fail "$1 not ready after 120 s"; sleep 1
  done
}
now_ms() { date +%s%3N; }

echo "== analytics proof, $(date -u +%Y-%m-%dT%H:%M:%SZ), app image $IMG, analytics image $IMG_AN"
docker network create "$NET" >/dev/null
# wal_level=logical on the command line here; infra sets it with ALTER SYSTEM + restart. The cap is
# set the way PITR sets it (ALTER SYSTEM + reload): a -c on the command line would override
# postgresql.auto.conf, and (iv) could not lower it.
docker run -d --rm --name "$APP" --network "$NET" --cpus 1 --memory 384m \
  -e POSTGRES_USER=xhosa -e POSTGRES_PASSWORD="$SU_PW" "$IMG" \
  -c wal_level=logical >/dev/null
docker run -d --rm --name "$AN" --network "$NET" --cpus 1 --memory 384m \
  -e POSTGRES_USER=analytics -e POSTGRES_PASSWORD="$SU_PW" "$IMG_AN" >/dev/null
ready "$APP"; ready "$AN"
q "$APP" xhosa -c "alter system set max_slot_wal_keep_size = '1GB'" -c "select pg_reload_conf()" >/dev/null
echo "   app server $(q "$APP" xhosa -c 'show server_version'), analytics server $(q "$AN" postgres -c 'show server_version')"
# The image's initdb trusts every local and loopback connection (pg_hba: local/127.0.0.1 trust).
# postgres_fdw refuses a non-superuser's connection that used no password ("password or GSSAPI
# delegated credentials required", connection.c pgfdw_security_check), and a trusted analytics_ro
# would need none: so the consumer roles get scram-sha-256 lines on top (first match wins).
docker exec "$AN" sh -c 'f=$(psql -U analytics -d postgres -XAtc "show hba_file") &&
  { printf "%s\n" "local all analytics_ro,analytics_fdw scram-sha-256" "host all analytics_ro,analytics_fdw all scram-sha-256"; cat "$f"; } >"$f.new" &&
  cat "$f.new" >"$f" && rm "$f.new"'
q "$AN" postgres -c 'select pg_reload_conf()' >/dev/null

# ---- the apps: xhosa (live, will publish) and beanstock (its nightly dump, pg_dump -Fc as infra-pg-backup takes it)
q "$APP" xhosa <<'SQL'
create table orders (id serial primary key, sku text not null, qty int not null);
insert into orders values (1, 'bean-a', 3), (2, 'bean-b', 5);
create database beanstock;
SQL
q "$APP" beanstock <<'SQL'
create table stock (sku text primary key, on_hand int not null);
insert into stock values ('bean-a', 100), ('bean-b', 7);
SQL
docker exec "$APP" pg_dump -U xhosa -d beanstock -Fc >"$TMP/beanstock-1.dump"
q "$APP" beanstock -c "update stock set on_hand = 50 where sku = 'bean-a'; insert into stock values ('bean-c', 1);"
docker exec "$APP" pg_dump -U xhosa -d beanstock -Fc >"$TMP/beanstock-2.dump"

# ---- the analytics instance: roles, one database per app, and `analytics` seeing them through postgres_fdw
q "$AN" postgres <<SQL
create role analytics_ro login password '$RO_PW';
create role analytics_fdw login password '$FDW_PW';
alter role analytics_ro set default_transaction_read_only = on;
alter role analytics_fdw set default_transaction_read_only = on;
create database xhosa;
create database beanstock_s1;
revoke connect, temporary on database xhosa, beanstock_s1 from public;
revoke temporary on database analytics from public;
grant connect on database xhosa, beanstock_s1 to analytics_fdw;
SQL
# nightly: a copy is restored into a NEW database, then made readable by the fdw's role.
restore_copy() { # DB DUMPFILE
  q "$AN" postgres -c "create database $1" -c "revoke connect, temporary on database $1 from public" -c "grant connect on database $1 to analytics_fdw" 2>/dev/null || true
  docker exec -i "$AN" pg_restore -U analytics -d "$1" --no-owner --no-acl --single-transaction --exit-on-error <"$2" &&
    q "$AN" "$1" -c 'grant usage on schema public to analytics_fdw' -c 'grant select on all tables in schema public to analytics_fdw' -c 'analyze'
}
restore_copy beanstock_s1 "$TMP/beanstock-1.dump"
ok "beanstock's dump restored into the new database beanstock_s1 (its public schema as is)"

# replication: the app's replication role and publication; the subscriber's database gets the
# published tables' schema (DDL is not replicated) — dumped over the network by the analytics
# instance's own pg_dump as that role, which has SELECT on those tables and nothing else.
q "$APP" xhosa >/dev/null <<SQL
create role analytics_repl replication login password '$REPL_PW';
grant select on orders to analytics_repl;
create publication infra_analytics for table orders;
select pg_create_physical_replication_slot('infra_pitr', true);
SQL
schema_copy() { # TABLE…: pg_dump -s of those tables as analytics_repl, into analytics:xhosa
  set -- $(printf ' -t public.%s' "$@")
  docker exec -e PGPASSWORD="$REPL_PW" "$AN" pg_dump -h "$APP" -U analytics_repl -d xhosa \
    --schema-only --no-owner --no-acl "$@" | q "$AN" xhosa >/dev/null
}
schema_copy orders
[ "$(q "$AN" xhosa -c "select count(*) from pg_sequences where sequencename = 'orders_id_seq'")" = 1 ] ||
  fail "the serial's sequence did not come with -t public.orders"
ok "(iii) schema of public.orders (and its serial's sequence) dumped as the SELECT-only replication role"
q "$AN" xhosa -c 'grant select on all tables in schema public to analytics_fdw' \
  -c 'alter default privileges in schema public grant select on tables to analytics_fdw'

t0=$(now_ms)
q "$AN" xhosa -c "create subscription analytics_xhosa connection 'host=$APP port=5432 dbname=xhosa user=analytics_repl password=$REPL_PW' publication infra_analytics"
i=0
until [ "$(q "$AN" xhosa -c "select count(*) from pg_subscription_rel where srsubstate <> 'r'")" = 0 ] &&
  [ "$(q "$AN" xhosa -c 'select count(*) from orders')" = 2 ]; do
  i=$((i + 1)); [ "$i" -lt 300 ] || fail "initial table sync did not finish"; sleep 0.2
done
ok "(iii) subscription into analytics:xhosa (public.orders) synced its 2 rows in $(($(now_ms) - t0)) ms"

q "$AN" analytics <<SQL
create extension postgres_fdw;
-- updatable/truncatable false: postgres_fdw refuses INSERT/UPDATE/DELETE/TRUNCATE on every foreign
-- table of the server, whoever asks (postgres_fdw docs, "Updatability Options").
create server xhosa foreign data wrapper postgres_fdw
  options (host '127.0.0.1', port '5432', dbname 'xhosa', updatable 'false', truncatable 'false');
create server beanstock foreign data wrapper postgres_fdw
  options (host '127.0.0.1', port '5432', dbname 'beanstock_s1', updatable 'false', truncatable 'false');
create user mapping for analytics_ro server xhosa options (user 'analytics_fdw', password '$FDW_PW');
create user mapping for analytics_ro server beanstock options (user 'analytics_fdw', password '$FDW_PW');
create user mapping for analytics server xhosa options (user 'analytics_fdw', password '$FDW_PW');
create user mapping for analytics server beanstock options (user 'analytics_fdw', password '$FDW_PW');
create schema xhosa; create schema beanstock;
import foreign schema public from server xhosa into xhosa;
import foreign schema public from server beanstock into beanstock;
grant usage on schema xhosa, beanstock to analytics_ro;
grant select on all tables in schema xhosa, beanstock to analytics_ro;
alter default privileges in schema xhosa, beanstock grant select on tables to analytics_ro;
SQL

echo "-- (i) the cross-app join as the read-only role, and writes through it"
got=$(ro -c "select string_agg(o.id || ':' || o.sku || ':' || o.qty || ':' || s.on_hand, ' ' order by o.id) from xhosa.orders o join beanstock.stock s using (sku)")
[ "$got" = "1:bean-a:3:100 2:bean-b:5:7" ] || fail "join returned '$got'"
ok "(i) one statement joins xhosa.orders with beanstock.stock as analytics_ro: $got"
refused "(i) INSERT through the foreign table as analytics_ro (its default_transaction_read_only)" "read-only transaction" \
  ro -c "insert into xhosa.orders values (9, 'x', 1)"
refused "(i) INSERT as analytics_ro after it turns read-only off itself" "permission denied" \
  ro -c "set default_transaction_read_only = off" -c "insert into xhosa.orders values (9, 'x', 1)"
refused "(i) UPDATE as analytics_ro, read-only off" "permission denied" \
  ro -c "set default_transaction_read_only = off" -c "update beanstock.stock set on_hand = 0"
refused "(i) TRUNCATE as analytics_ro, read-only off" "permission denied" \
  ro -c "set default_transaction_read_only = off" -c "truncate beanstock.stock"
refused "(i) INSERT as the superuser that owns the foreign tables (server updatable=false)" "does not allow inserts" \
  q "$AN" analytics -c "insert into xhosa.orders values (9, 'x', 1)"
refused "(i) TRUNCATE as the owner (server truncatable=false)" "does not allow truncates" \
  q "$AN" analytics -c "truncate beanstock.stock"
refused "(i) a write on the remote side as analytics_fdw itself" "permission denied" \
  docker exec -i -e PGPASSWORD="$FDW_PW" "$AN" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U analytics_fdw -d xhosa \
  -c "set default_transaction_read_only = off" -c "insert into orders values (9, 'x', 1)"
refused "(i) analytics_ro connecting to a copy's database directly" "permission denied for database" \
  docker exec -i -e PGPASSWORD="$RO_PW" "$AN" psql -X -h 127.0.0.1 -U analytics_ro -d xhosa -c "select 1"
refused "(i) CREATE TABLE in analytics as analytics_ro" "permission denied for schema public" \
  ro -c "set default_transaction_read_only = off" -c "create table public.t (i int)"
refused "(i) analytics_ro with a wrong password" "password authentication failed" \
  docker exec -i -e PGPASSWORD=wrong "$AN" psql -X -h 127.0.0.1 -U analytics_ro -d analytics -c "select 1"
[ -z "$(ro -c "select umoptions from pg_user_mappings where srvname = 'xhosa' and usename = 'analytics_ro'")" ] ||
  fail "analytics_ro can read its mapping's password"
ok "(i) analytics_ro cannot read the mapping's password (pg_user_mappings.umoptions is null without USAGE on the server)"
[ "$(q "$AN" xhosa -c 'select count(*) from orders')" = 2 ] || fail "rows changed"

echo "-- (ii) the nightly swap while a transaction is open"
restore_copy beanstock_s2 "$TMP/beanstock-2.dump"
ok "(ii) copy 2 restored into beanstock_s2 while copy 1 serves"
# T1: a reader holding one transaction open across the swap; S2: a pooled session left idle with a cached connection.
ro >"$TMP/t1.out" 2>&1 <<'SQL' &
begin;
select 'T1 before swap', sum(on_hand), count(*) from beanstock.stock;
select pg_sleep(15);
select 'T1 after swap, same transaction', sum(on_hand), count(*) from beanstock.stock;
commit;
select 'T1 next transaction', sum(on_hand), count(*) from beanstock.stock;
select pg_sleep(4);
SQL
t1=$!
ro >"$TMP/s2.out" 2>&1 <<'SQL' &
select 'S2 before swap', sum(on_hand) from beanstock.stock;
select pg_sleep(8);
select 'S2 after swap, new transaction', sum(on_hand), count(*) from beanstock.stock;
SQL
s2=$!
sleep 3
t0=$(now_ms)
q "$AN" analytics -c "begin" -c "alter server beanstock options (set dbname 'beanstock_s2')" -c "commit"
ok "(ii) swap committed in $(($(now_ms) - t0)) ms without waiting for the open transaction"
got=$(ro -c "select sum(on_hand) || '/' || count(*) from beanstock.stock")
[ "$got" = "58/3" ] || fail "a new session after the swap read '$got', not copy 2 (58/3)"
ok "(ii) a new session reads copy 2: sum/count $got"
refused "(ii) DROP DATABASE beanstock_s1 while T1's transaction still reads it" "being accessed by other users" \
  q "$AN" postgres -c "drop database beanstock_s1"
wait "$s2" || fail "S2: $(cat "$TMP/s2.out")"
wait "$t1" || fail "T1: $(cat "$TMP/t1.out")"
grep -q '^T1 before swap|107|2$' "$TMP/t1.out" || fail "T1 before: $(cat "$TMP/t1.out")"
grep -q '^T1 after swap, same transaction|107|2$' "$TMP/t1.out" || fail "T1 after: $(cat "$TMP/t1.out")"
grep -q '^T1 next transaction|58|3$' "$TMP/t1.out" || fail "T1 next: $(cat "$TMP/t1.out")"
grep -q '^S2 after swap, new transaction|58|3$' "$TMP/s2.out" || fail "S2: $(cat "$TMP/s2.out")"
sed 's/^/      /' "$TMP/t1.out" "$TMP/s2.out" | grep -v '^ *$'
ok "(ii) T1 kept copy 1 (107/2) for its whole transaction, its next transaction and S2's read copy 2 (58/3)"
users=$(q "$AN" postgres -c "select count(*) from pg_stat_activity where datname = 'beanstock_s1'")
q "$AN" postgres -c "drop database beanstock_s1"
ok "(ii) beanstock_s1 dropped once no transaction used it ($users sessions left on it: postgres_fdw closed the invalidated connections at transaction end)"

restore_copy beanstock_s3 "$TMP/beanstock-1.dump"
# the idle pooled session: a cached connection to the copy being replaced, no transaction open.
ro >"$TMP/s3.out" 2>&1 <<'SQL' &
select 'S3 first', sum(on_hand) from beanstock.stock;
select pg_sleep(8);
select 'S3 after its connection was ended', sum(on_hand), count(*) from beanstock.stock;
SQL
s3=$!
sleep 3
q "$AN" analytics -c "alter server beanstock options (set dbname 'beanstock_s3')"
idle=$(q "$AN" postgres -c "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = 'beanstock_s2' and state = 'idle'")
q "$AN" postgres -c "drop database beanstock_s2"
wait "$s3" || fail "S3: $(cat "$TMP/s3.out")"
grep -q '^S3 after its connection was ended|107|2$' "$TMP/s3.out" || fail "S3: $(cat "$TMP/s3.out")"
ok "(ii) an idle session's cached connection to the old copy ($idle idle backend ended) does not block the drop; its next query reads the new copy"

# a swap that must change foreign tables: adding one locks nothing a reader holds; replacing one
# needs ACCESS EXCLUSIVE, so it waits for readers — lock_timeout turns that wait into a refusal.
q "$AN" beanstock_s3 -c "create table extra (i int primary key)" -c "grant select on extra to analytics_fdw"
ro >"$TMP/t4.out" 2>&1 <<'SQL' &
begin;
select 'T4 reading', count(*) from beanstock.stock;
select pg_sleep(10);
commit;
SQL
t4=$!
sleep 3
t0=$(now_ms)
q "$AN" analytics -c "begin" -c "set local lock_timeout = '3s'" \
  -c "import foreign schema public limit to (extra) from server beanstock into beanstock" -c "commit"
ok "(ii) IMPORT … LIMIT TO (a new table) committed in $(($(now_ms) - t0)) ms while T4 reads beanstock.stock"
refused "(ii) replacing beanstock.stock while T4 reads it (lock_timeout 3s)" "lock timeout" \
  q "$AN" analytics -c "begin" -c "set local lock_timeout = '3s'" -c "drop foreign table beanstock.stock" -c "commit"
wait "$t4" || fail "T4: $(cat "$TMP/t4.out")"
[ "$(ro -c 'select count(*) from beanstock.stock')" = 2 ] || fail "beanstock.stock changed"

# a failed sync: a truncated dump does not restore; the server keeps pointing at the current copy.
head -c 300 "$TMP/beanstock-2.dump" >"$TMP/broken.dump"
if restore_copy beanstock_s4 "$TMP/broken.dump" 2>"$TMP/err"; then fail "a truncated dump restored"; fi
q "$AN" postgres -c "drop database if exists beanstock_s4"
got=$(ro -c "select sum(on_hand) || '/' || count(*) from beanstock.stock")
[ "$got" = "107/2" ] || fail "after a failed sync the copy reads '$got'"
ok "(ii) a truncated dump fails to restore ($(grep -m1 -o 'pg_restore: error: .*' "$TMP/err" | cut -c1-70)); the current copy still answers ($got)"

echo "-- (iii) replication: changes, a new table, and why the publication lists its tables"
t0=$(now_ms)
q "$APP" xhosa -c "insert into orders values (3, 'bean-c', 9)"
i=0
until [ "$(q "$AN" xhosa -c 'select count(*) from orders where id = 3')" = 1 ]; do
  i=$((i + 1)); [ "$i" -lt 300 ] || fail "row 3 not replicated"; sleep 0.05
done
ok "(iii) a row inserted in xhosa is in analytics:xhosa after $(($(now_ms) - t0)) ms (polled every 50 ms through docker exec)"
got=$(ro -c "select string_agg(o.id || ':' || s.on_hand, ' ' order by o.id) from xhosa.orders o join beanstock.stock s using (sku)")
[ "$got" = "1:100 2:7" ] || fail "join after replication: $got"
ok "(iii) the join sees it at once (bean-c is not in this beanstock copy): $got"
# DDL is not replicated. The app adds a table: with a publication that lists its tables nothing
# changes for replication; check sees a table of the app's public that is not published.
q "$APP" xhosa -c "create table refunds (id int primary key, order_id int, amount numeric)" \
  -c "insert into refunds values (1, 2, 4.50)" -c "insert into orders values (4, 'bean-a', 1)"
wait_rows() { # DB SQL WANT WHAT
  i=0
  until [ "$(q "$AN" "$1" -c "$2" 2>/dev/null)" = "$3" ]; do
    i=$((i + 1)); [ "$i" -lt 150 ] || return 1; sleep 0.2
  done
}
wait_rows xhosa 'select count(*) from orders' 4 || fail "row 4 not replicated"
unpub=$(q "$APP" xhosa -c "select string_agg(c.relname, ',') from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p') and not exists (select 1 from pg_publication_tables p where p.pubname = 'infra_analytics' and p.schemaname = 'public' and p.tablename = c.relname)")
[ "$unpub" = refunds ] || fail "unpublished tables: $unpub"
ok "(iii) the app's new table leaves replication running (orders row 4 arrived); check's query finds it unpublished: $unpub"
# The wrong order, on purpose: published before the subscriber has the table. The apply worker
# fails on the first change for it, and the whole subscription stalls, other tables too.
q "$APP" xhosa -c "grant select on refunds to analytics_repl" -c "alter publication infra_analytics add table refunds" \
  -c "insert into refunds values (2, 1, 1.00)" -c "insert into orders values (5, 'bean-b', 2)"
i=0
until [ "$(q "$AN" xhosa -c "select apply_error_count from pg_stat_subscription_stats where subname = 'analytics_xhosa'")" -gt 0 ]; do
  i=$((i + 1)); [ "$i" -lt 100 ] || fail "no apply error for the missing table"; sleep 0.3
done
[ "$(q "$AN" xhosa -c 'select count(*) from orders')" = 4 ] || fail "orders row 5 arrived although the worker fails"
msg=$(docker logs "$AN" 2>&1 | grep -m1 -o 'logical replication target relation.*' || true)
ok "(iii) published before the subscriber had it: the apply worker fails ($msg) and orders row 5 waits too"
# The fix (and the right order for apply): the table's schema first, then REFRESH PUBLICATION.
schema_copy refunds
q "$AN" xhosa -c "alter subscription analytics_xhosa refresh publication"
t0=$(now_ms)
wait_rows xhosa 'select count(*) from orders' 5 || fail "orders row 5 never arrived"
wait_rows xhosa 'select count(*) from refunds' 2 || fail "refunds not synced: $(q "$AN" xhosa -c 'table refunds')"
q "$AN" analytics -c "import foreign schema public limit to (refunds) from server xhosa into xhosa"
[ "$(ro -c 'select count(*) from xhosa.refunds')" = 2 ] || fail "analytics_ro cannot read xhosa.refunds"
ok "(iii) schema copied + REFRESH PUBLICATION: the worker resumed (orders row 5), refunds copied (2 rows) in $(($(now_ms) - t0)) ms; IMPORT … LIMIT TO (refunds) and default privileges let analytics_ro read it"
# Replica identity: a published table without one makes the APP's UPDATEs fail (any publication
# that publishes updates; this one has no subscriber at all).
q "$APP" xhosa -c "create table notes (body text)" -c "insert into notes values ('hi')" -c "create publication demo_ri for table notes"
refused "(iii) the app's own UPDATE of a published table without a replica identity" "does not have a replica identity" \
  q "$APP" xhosa -c "update notes set body = 'x'"
q "$APP" xhosa -c "drop publication demo_ri" -c "update notes set body = 'x'"
ok "(iii) unpublished, the app's UPDATE works again: only tables with a replica identity may be published"
q "$APP" xhosa -c "select slot_name || ' ' || slot_type || ' ' || coalesce(wal_status, '-') || ' active=' || active from pg_replication_slots order by slot_name" |
  sed 's/^/      slot /'
ok "(iii) the logical slot and a physical infra_pitr slot coexist under one max_slot_wal_keep_size = $(q "$APP" xhosa -c 'show max_slot_wal_keep_size')"

echo "-- (iv) the slot cap: a stopped subscriber cannot fill the app's disk; the way back is a resync"
# The cap is 1GB on the real apps (PITR's WAL_CAP); 64MB here so a few seconds of writes pass it.
q "$AN" xhosa -c "alter subscription analytics_xhosa disable"
q "$APP" xhosa -c "insert into orders values (6, 'bean-a', 7)" -c "alter system set max_slot_wal_keep_size = '64MB'" \
  -c "select pg_reload_conf()" >/dev/null
q "$APP" xhosa -c "create table filler (i int, pad text)" \
  -c "insert into filler select g, repeat(md5(g::text), 12) from generate_series(1, 250000) g"
i=0
until [ "$(q "$APP" xhosa -c "checkpoint" -c "select wal_status from pg_replication_slots where slot_name = 'analytics_xhosa'")" = lost ]; do
  i=$((i + 1)); [ "$i" -lt 10 ] || fail "the slot was not invalidated: $(q "$APP" xhosa -c 'table pg_replication_slots')"
  q "$APP" xhosa -c "insert into filler select g, repeat(md5(g::text), 12) from generate_series(1, 100000) g"
done
q "$APP" xhosa -c "select slot_name || ' wal_status=' || coalesce(wal_status, '-') || ' safe_wal_size=' || coalesce(safe_wal_size::text, '-') from pg_replication_slots order by 1" |
  sed 's/^/      slot /'
echo "      pg_wal holds $(q "$APP" xhosa -c "select pg_size_pretty(sum(size)) from pg_ls_waldir()") after $(q "$APP" xhosa -c "select pg_size_pretty(pg_total_relation_size('filler'))") of writes"
ok "(iv) past max_slot_wal_keep_size the slots were invalidated (wal_status lost) instead of holding WAL"
q "$AN" xhosa -c "alter subscription analytics_xhosa enable"
i=0
# 16-17 say "can no longer get changes from replication slot", 18 "can no longer access replication slot".
lost='can no longer (get changes from|access) replication slot "analytics_xhosa"'
until docker logs "$APP" 2>&1 | grep -qE "$lost"; do
  i=$((i + 1)); [ "$i" -lt 60 ] || fail "no refusal of the lost slot in the app's log"; sleep 0.5
done
ok "(iv) the subscription cannot resume; the app's log: $(docker logs "$APP" 2>&1 | grep -m1 -oE "$lost.*")"
t0=$(now_ms)
q "$AN" xhosa -c "drop subscription analytics_xhosa" -c "truncate orders, refunds"
q "$AN" xhosa -c "create subscription analytics_xhosa connection 'host=$APP port=5432 dbname=xhosa user=analytics_repl password=$REPL_PW' publication infra_analytics"
wait_rows xhosa 'select count(*) from orders' 6 || fail "resync: orders $(q "$AN" xhosa -c 'select count(*) from orders')"
wait_rows xhosa 'select count(*) from refunds' 2 || fail "resync: refunds"
ok "(iv) resync (drop subscription, truncate, subscribe again) brought back all 6 orders incl. the one written while stopped, in $(($(now_ms) - t0)) ms"
echo "== all claims held (app $IMG, analytics $IMG_AN)"
