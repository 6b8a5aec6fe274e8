import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { PITR_DIR, PITR_ETC, PITR_ROLE, PITR_SLOT, pitrDir, runBaseBackup, WAL_UNIT } from './pitr.js';

/**
 * A gap in an app's WAL archive on the control host, and infra's way out of it.
 *
 * While the control host is away, the app's slot keeps WAL for it, up to max_slot_wal_keep_size
 * (`pitr_wal_cap`). Past that, the next checkpoint invalidates the slot (wal_status `lost`,
 * restart_lsn set to NULL: src/backend/replication/slot.c InvalidatePossiblyObsoleteSlot, 16-18)
 * and frees the WAL; the receiver can never resume from its last segment again: PostgreSQL 16/17
 * answer "requested WAL segment ... has already been removed", 18 refuses the slot itself ("can no
 * longer access replication slot", walsender.c StartReplication acquires with error_if_invalid).
 *
 * The check runs before every start of the receiver (`--no-loop`, so every reconnect is a start):
 * READ_REPLICATION_SLOT (replication protocol, PostgreSQL 15+) gives the slot's restart_lsn. A slot
 * that reserves nothing while this host's archive already holds segments means the server may have
 * removed WAL we never received, whatever the server's language: the start stops there and leaves
 * the marker PITR_DIR/APP/gap (`SEGMENT TIME`: the last segment received, when it was found). A
 * fresh slot on an empty archive (first start, after a restore, after this recovery) is no gap: the
 * receiver's first status message sets restart_lsn (pg_receivewal reports its flush position).
 *
 * `apply` on the control host then does what an operator would: the archive (WAL and base backups)
 * is set aside as `before-gap-STAMP` (still restorable up to the gap), the invalid slot dropped,
 * a new one made by the receiver's next start, and a base backup taken at once, since WAL alone
 * cannot bridge the gap.
 */
export const GAP_SCRIPT_PATH = '/usr/local/sbin/infra-pitr-wal-start';
export const gapFile = (app: string) => `${pitrDir(app)}/gap`;

/** Shell in the app's image: READ_REPLICATION_SLOT's one row (`physical|LSN|TLI`, `||` when absent). */
const READ_SLOT = `psql "host=$1 port=$2 user=${PITR_ROLE} dbname=replication replication=true" -X -A -t -q -c "READ_REPLICATION_SLOT ${PITR_SLOT}"`;

/** infra-pitr-wal-start APP: ExecStartPre of the receiver (env from its unit or the env file). */
export const GAP_SCRIPT = `#!/bin/sh
# infra-pitr-wal-start APP - installed by infra; see docs/apps.md "Point-in-time recovery".
# Before each start of the WAL receiver: the slot is made if missing, and the receiver does not
# stream on top of an archive whose continuation the server no longer keeps (a gap).
set -eu
app="$1"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-pitr-wal-start: bad app name" >&2; exit 2;; esac
[ -n "\${PG_HOST:-}" ] || . ${PITR_ETC}/"$app".env
dir=${PITR_DIR}/$app
if [ -s "$dir/gap" ]; then
  echo "infra-pitr-wal-start: $app: the WAL archive has a gap after $(cut -d' ' -f1 "$dir/gap"): run infra apply on this host" >&2
  exit 1
fi
mkdir -p "$dir/wal"
docker rm -f infra-pitr-wal-"$app" >/dev/null 2>&1 || true
slot=$(docker run --rm --network host -e PGPASSFILE=/pgpass -v ${PITR_ETC}/"$app".pgpass:/pgpass:ro postgres:"$PG_MAJOR" sh -c '
pg_receivewal -h "$1" -p "$2" -U ${PITR_ROLE} -w --slot ${PITR_SLOT} --create-slot --if-not-exists >&2 || exit 1
${READ_SLOT} 2>/dev/null || echo unknown' sh "$PG_HOST" "$PG_PORT")
last=$(ls -1 "$dir/wal" | grep -E '^[0-9A-F]{24}(\\.partial)?$' | sort | tail -n 1 || true)
case "$slot" in
  'physical||'*)
    if [ -n "$last" ]; then
      echo "\${last%.partial} $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$dir/gap.tmp" && mv "$dir/gap.tmp" "$dir/gap"
      echo "infra-pitr-wal-start: $app: the slot ${PITR_SLOT} reserves no WAL (invalidated past max_slot_wal_keep_size, or dropped) and the archive ends at \${last%.partial}: a gap; run infra apply on this host" >&2
      exit 1
    fi ;;
esac
`;

export interface GapState {
  /** The last segment received before the gap, and when the gap was found; null: no gap. */
  gap: { after: string; found: string } | null;
}

/** Pure: the marker's content, or `none`. */
export function parseGap(out: string): GapState {
  const m = /^([0-9A-F]{24}) (\S+)$/m.exec(out.trim());
  return { gap: m ? { after: m[1]!, found: m[2]! } : null };
}

export function diffGap(app: string, s: GapState): Change[] {
  if (!s.gap) return [];
  return [
    {
      summary: `the WAL archive of ${app} has a gap after ${s.gap.after} (found ${s.gap.found}: the slot was invalidated while this host was away): no point-in-time recovery past it; apply sets the archive aside, makes a new slot and takes a fresh base backup`,
      kind: 'pitr-gap',
      expected: 'none',
      actual: s.gap.after,
    },
  ];
}

/**
 * Shell (control host): stop the receiver, drop the invalid slot over the replication protocol
 * (DROP_REPLICATION_SLOT ... WAIT: the role has REPLICATION; an invalidated slot may be dropped),
 * set the archive aside, start streaming anew and take the base backup the new history needs.
 */
export function recoverScript(app: string): string {
  const d = shq(pitrDir(app));
  const unit = shq(`${WAL_UNIT}@${app}.service`);
  return `set -e
systemctl stop ${unit}
. ${shq(`${PITR_ETC}/${app}.env`)}
docker run --rm --network host -e PGPASSFILE=/pgpass -v ${shq(`${PITR_ETC}/${app}.pgpass`)}:/pgpass:ro "postgres:$PG_MAJOR" sh -c '
s=$(${READ_SLOT}) || exit 1
case "$s" in physical*) psql "host=$1 port=$2 user=${PITR_ROLE} dbname=replication replication=true" -X -q -c "DROP_REPLICATION_SLOT ${PITR_SLOT} WAIT" ;; esac' sh "$PG_HOST" "$PG_PORT"
cd ${d}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir before-gap-$stamp
for x in base wal gap; do [ ! -e "$x" ] || mv "$x" before-gap-$stamp/; done
mkdir -p base wal && chmod 700 base wal
systemctl start ${unit}
i=0; until ls -1 wal | grep -qE '^[0-9A-F]{24}'; do i=$((i + 1)); [ "$i" -lt 120 ] || break; sleep 1; done
${runBaseBackup(app)}
echo "${app}: the archive before the gap is in ${pitrDir(app)}/before-gap-$stamp; streaming anew"`;
}

/** The control host's gap check of one app; its apply recovers (before the receiver's own task). */
export function gapTask(app: string, after: string[]): Task<GapState> {
  return {
    id: `pitr:${app}:gap`,
    after,
    probe: `cat ${shq(gapFile(app))} 2>/dev/null || echo none`,
    parse: parseGap,
    diff: (s) => diffGap(app, s),
    apply: () => [{ script: recoverScript(app), timeoutMs: 60 * 60_000 }],
  };
}
