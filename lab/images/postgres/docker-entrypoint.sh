#!/bin/sh
# infra lab postgres entrypoint: REAL PostgreSQL, with the official image's contract
# (docker-library/postgres): POSTGRES_PASSWORD/_USER/_DB/_INITDB_ARGS/_INITDB_WALDIR and their
# *_FILE variants, POSTGRES_HOST_AUTH_METHOD, init only when PGDATA is empty, then
# /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz, and `postgres` as the main process.
set -eu

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE, never both.
file_env() {
  var=$1 def=${2:-}
  eval "val=\${$var:-} fval=\${${var}_FILE:-}"
  if [ -n "$val" ] && [ -n "$fval" ]; then
    echo >&2 "error: both $var and ${var}_FILE are set (but are exclusive)"
    exit 1
  fi
  if [ -n "$fval" ]; then val=$(cat "$fval"); fi
  [ -n "$val" ] || val=$def
  export "$var=$val"
  unset "${var}_FILE"
}

if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi

if [ "$1" != postgres ]; then exec "$@"; fi

major=$(cat /usr/lib/postgresql/MAJOR)
# 18+: the volume belongs at /var/lib/postgresql; a mount at the old path means data in the wrong place.
if [ "$major" -ge 18 ] && grep -q " /var/lib/postgresql/data " /proc/self/mountinfo; then
  cat >&2 <<MSG
Error: in 18+, these Docker images are configured to store database data in a
       format which is compatible with "pg_ctlcluster" (specifically, using
       major-version-specific directory names).  This better reflects how
       PostgreSQL itself works, and how upgrades are to be performed.

       Counter to that, there appears to be PostgreSQL data in:
         /var/lib/postgresql/data (unused mount/volume)

       The suggested container configuration for 18+ is to place a single mount
       at /var/lib/postgresql which will then place PostgreSQL data in a
       subdirectory, allowing usage of "pg_upgrade --link" without mount point
       boundary issues.
MSG
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 00700 "$PGDATA" || :
  chmod 03775 /var/run/postgresql || :
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
MSG
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  waldir=${POSTGRES_INITDB_WALDIR:+--waldir=$POSTGRES_INITDB_WALDIR}
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as upstream.
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 $waldir $POSTGRES_INITDB_ARGS
  rm -f "$pwfile"
  # The socket where Debian's client tools look (the embedded 16 server defaults to /tmp).
  printf "\nlisten_addresses = '*'\nunix_socket_directories = '/var/run/postgresql'\n" >>"$PGDATA/postgresql.conf"
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # Init only on first start: a temporary server on the socket only, then the init scripts.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
  export PGPASSWORD=$POSTGRES_PASSWORD PGUSER=$POSTGRES_USER PGHOST=/var/run/postgresql
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc -d postgres -q --set db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "running $f"; . "$f" ;;
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 --no-psqlrc -d "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) echo "running $f"; gunzip -c "$f" | psql -v ON_ERROR_STOP=1 --no-psqlrc -d "$POSTGRES_DB" ;;
      *) [ -e "$f" ] && echo "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset PGPASSWORD PGUSER PGHOST
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
else
  echo
  echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
  echo
fi

exec "$@"
