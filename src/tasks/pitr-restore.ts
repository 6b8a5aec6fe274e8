import { InfraError } from '../errors.js';
import { shCmd, shq } from '../quote.js';
import { composeCmd } from './compose-stack.js';
import { base64Output } from './lib/file.js';
import { pitrDir } from './pitr.js';
import { appDir, dataMount, imageOf, volumeName } from './postgres-app.js';

/**
 * `infra restore NAME --at TIME|latest`, the pure half: which archive and base backup, and the
 * scripts. Recovery follows PostgreSQL 16-18 "Continuous Archiving and Point-in-Time Recovery"
 * (25.3.5 / 26.3.5 "Recovering Using a Continuous Archive Backup"): the base backup's files in
 * place, `recovery.signal` in PGDATA, `restore_command` reading the archive, and for a moment
 * `recovery_target_time` with `recovery_target_action = promote`. Without a target, recovery
 * replays all WAL there is ("latest"). pg_receivewal's open segment is `NAME.partial`; recovery
 * never reads that name, so it is staged under its full name, as the docs' note on partial
 * segments says an administrator may (xlog.c, "copy them manually ... removing the suffix").
 */
export const STAGE_DIR = '/var/backups/infra-pitr-restore';
export const stageDir = (app: string) => `${STAGE_DIR}/${app}`;
export const RECOVERY_CONTAINER = (app: string) => `${app}-pitr-recovery`;

/** Pure: `latest`, or an ISO 8601 time with a zone (Z or ±HH:MM), as a Date. */
export function parseAt(raw: string): Date | 'latest' {
  if (raw === 'latest') return 'latest';
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}:?\d{2})$/.exec(
    raw.trim(),
  );
  const d = m
    ? new Date(`${m[1]}T${m[2]}${m[3] === 'Z' ? 'Z' : m[3]!.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')}`)
    : null;
  if (!d || Number.isNaN(d.getTime()))
    throw new InfraError(
      `--at ${JSON.stringify(raw)}: expected latest or a time with its zone, like 2026-12-01T17:00:00Z or 2026-12-01 18:00:00+01:00`,
    );
  return d;
}

export interface ArchiveBase {
  /** The archive set: '' for the current one, `before-restore-STAMP` / `before-gap-STAMP` set aside. */
  set: string;
  stamp: string;
  done: Date;
}

/** Shell (control host): `SET STAMP DONE` for every complete base backup of every archive set. */
export function listBasesScript(app: string): string {
  const d = shq(pitrDir(app));
  return `cd ${d} 2>/dev/null || exit 0
for s in . before-restore-* before-gap-*; do [ -d "$s/base" ] || continue
  for b in $(ls -1 "$s/base" | grep -E '^[0-9]{8}T[0-9]{6}Z$'); do [ -f "$s/base/$b/done" ] && printf '%s %s %s\\n' "$s" "$b" "$(cat "$s/base/$b/done")"; done
done; true`;
}

export function parseBases(out: string): ArchiveBase[] {
  return out
    .split('\n')
    .map((l) => /^(\.|before-(?:restore|gap)-\d{8}T\d{6}Z) (\d{8}T\d{6}Z) (\S+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => !!m && !Number.isNaN(new Date(m[3]!).getTime()))
    .map((m) => ({ set: m[1] === '.' ? '' : m[1]!, stamp: m[2]!, done: new Date(m[3]!) }));
}

/**
 * Pure: the base backup to start from. `latest`: the newest of the current archive. A time: the
 * newest base backup finished before it, searching the current archive first, then the ones set
 * aside by earlier restores (a time before a restore belongs to the history before it).
 */
export function chooseBase(bases: readonly ArchiveBase[], at: Date | 'latest'): ArchiveBase | undefined {
  const sets = [...new Set(bases.map((b) => b.set))].sort((a, b) =>
    a === '' ? -1 : b === '' ? 1 : b.localeCompare(a),
  );
  for (const set of at === 'latest' ? [''] : sets) {
    const ok = bases
      .filter((b) => b.set === set && (at === 'latest' || b.done.getTime() <= at.getTime()))
      .sort((a, b) => b.stamp.localeCompare(a.stamp));
    if (ok[0]) return ok[0];
  }
  return undefined;
}

/** Shell (control host): the base backup and its archive's WAL as one gzip'd tar on stdout, base64. */
export function bundleScript(app: string, b: ArchiveBase): string {
  const root = b.set ? `${pitrDir(app)}/${b.set}` : pitrDir(app);
  return base64Output(`cd ${shq(root)} && tar -czf - ${shq(`base/${b.stamp}`)} wal`);
}

/** Shell (target host): unpack the bundle into the staging dir; WAL ready for restore_command. */
export function stageScript(app: string, b: ArchiveBase): string {
  const d = shq(stageDir(app));
  return `set -e
rm -rf ${d} && mkdir -p ${d} && chmod 700 ${shq(STAGE_DIR)} ${d}
base64 -d | tar -xzf - -C ${d}
mkdir -p ${d}/ready
for f in ${d}/wal/*; do [ -f "$f" ] || continue; n=$(basename "$f")
  case "$n" in *.partial) [ -f ${d}/wal/"\${n%.partial}" ] || cp "$f" ${d}/ready/"\${n%.partial}";; *) cp "$f" ${d}/ready/"$n";; esac
done
chmod -R a+rX ${d}
test -s ${d}/${shq(`base/${b.stamp}`)}/base.tar.gz
echo "staged $(ls -1 ${d}/ready | grep -cE '^[0-9A-F]{24}$') WAL segments"`;
}

/**
 * Shell (target host): the current volume copied to `keep` (labelled as the app's, so
 * `--prune` finds it), then the volume emptied and the base backup unpacked into PGDATA, with
 * recovery.signal. Runs in the app's image as root: its PGDATA and its postgres user.
 */
export function prepareScript(app: string, major: number, stamp: string, keep: string): string {
  const vol = volumeName(app, major);
  const img = imageOf(major);
  const m = dataMount(major);
  const labels = [
    `io.infra.app=${app}`,
    `io.infra.pg-major=${major}`,
    `com.docker.compose.project=${app}`,
    'com.docker.compose.volume=pgdata',
  ].flatMap((l) => ['--label', l]);
  const inner = `set -e
find ${m} -mindepth 1 -delete
mkdir -p "$PGDATA" "$PGDATA/pg_wal"
tar -xzf /pitr/base/${stamp}/base.tar.gz -C "$PGDATA"
[ ! -f /pitr/base/${stamp}/pg_wal.tar.gz ] || tar -xzf /pitr/base/${stamp}/pg_wal.tar.gz -C "$PGDATA/pg_wal"
touch "$PGDATA/recovery.signal"
chown -R postgres:postgres ${m} && chmod 700 "$PGDATA"`;
  return `set -e
if docker volume inspect ${shq(vol)} >/dev/null 2>&1; then
  ${shCmd(['docker', 'volume', 'create', ...labels.slice(0, 4), keep])} >/dev/null
  ${shCmd(['docker', 'run', '--rm', '-v', `${vol}:/from`, '-v', `${keep}:/to`, '--entrypoint', 'sh', img, '-c', 'cp -a /from/. /to/'])}
  echo "kept ${keep}"
else
  ${shCmd(['docker', 'volume', 'create', ...labels, vol])} >/dev/null
fi
${shCmd(['docker', 'run', '--rm', '-v', `${vol}:${m}`, '-v', `${stageDir(app)}:/pitr:ro`, '--entrypoint', 'sh', img, '-c', inner])}`;
}

/** Pure: the moment as recovery_target_time takes it, in UTC: `2026-12-01 17:00:00.000+00`. */
export const targetTime = (at: Date) => at.toISOString().replace('T', ' ').replace('Z', '+00');

/** Pure: the server's settings for this recovery, as `-c` arguments (PostgreSQL 16-18 "Recovery Target"). */
export function recoveryArgs(at: Date | 'latest'): string[] {
  const out = [
    '-c',
    'restore_command=cp /pitr/ready/%f %p',
    '-c',
    'listen_addresses=',
    '-c',
    'recovery_target_action=promote',
  ];
  // PostgreSQL 18 refuses the ISO `T…Z` spelling here ("invalid value for parameter"): space and +00.
  if (at !== 'latest') out.push('-c', `recovery_target_time=${targetTime(at)}`);
  return out;
}

/**
 * Shell (target host): the recovery server in a throwaway container until it has promoted, then
 * a fast shutdown. Prints `replayed TIME` (pg_last_xact_replay_timestamp stays after promotion).
 * A target past the end of the WAL stops the server with "recovery ended before configured
 * recovery target was reached" (PostgreSQL 13+): that is printed and the script fails.
 */
export function recoverScript(app: string, major: number, at: Date | 'latest'): string {
  const c = RECOVERY_CONTAINER(app);
  const run = shCmd([
    'docker',
    'run',
    '-d',
    '--name',
    c,
    '-v',
    `${volumeName(app, major)}:${dataMount(major)}`,
    '-v',
    `${stageDir(app)}:/pitr:ro`,
    imageOf(major),
    'postgres',
    ...recoveryArgs(at),
  ]);
  const q = (sql: string) =>
    shCmd(['docker', 'exec', c, 'psql', '-U', app, '-d', app, '-X', '-A', '-t', '-c', sql]);
  return `c=${shq(c)}
docker rm -f "$c" >/dev/null 2>&1 || true
${run} >/dev/null
i=0
while :; do
  r=$(${q('select pg_is_in_recovery()')} 2>/dev/null || true)
  [ "$r" = f ] && break
  if [ "$(docker inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" != true ]; then why=$(docker logs "$c" 2>&1 | grep -E 'FATAL|PANIC' | tail -n 1 | sed -E 's/^.*(FATAL|PANIC): *//'); [ -n "$why" ] || why=$(docker logs --tail 3 "$c" 2>&1 | tr '\\n' ' '); echo "$why" >&2; docker rm -f "$c" >/dev/null 2>&1; exit 1; fi
  i=$((i + 1)); [ "$i" -lt 1200 ] || { docker logs --tail 5 "$c" >&2; docker rm -f "$c" >/dev/null; echo 'recovery did not finish in 10 minutes' >&2; exit 1; }
  sleep 0.5
done
echo "replayed $(${q("select coalesce(to_char(pg_last_xact_replay_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'nothing')")})"
docker stop -t 60 "$c" >/dev/null && docker rm "$c" >/dev/null
rm -rf ${shq(stageDir(app))}`;
}

/**
 * Shell (target host), after a failed recovery: the app as it was before the restore, so a failed
 * restore changes nothing. The kept copy goes back into the volume and is removed (`keep` null:
 * the host had no volume, the one the restore made goes); the staged archive goes; the app's stack,
 * if the host has one, starts again.
 */
export function revertScript(app: string, major: number, keep: string | null): string {
  const vol = volumeName(app, major);
  const back = keep
    ? `${shCmd(['docker', 'run', '--rm', '-v', `${keep}:/from:ro`, '-v', `${vol}:/to`, '--entrypoint', 'sh', imageOf(major), '-c', 'find /to -mindepth 1 -delete && cp -a /from/. /to/'])}
docker volume rm ${shq(keep)} >/dev/null`
    : `docker volume rm -f ${shq(vol)} >/dev/null`;
  return `set -e
docker rm -f ${shq(RECOVERY_CONTAINER(app))} >/dev/null 2>&1 || true
${back}
rm -rf ${shq(stageDir(app))}
if [ -f ${shq(`${appDir(app)}/compose.yaml`)} ]; then ${composeCmd(app, appDir(app), 'up', '-d')} >/dev/null 2>&1; fi
echo "put back as it was"`;
}

/** Shell (control host): the archive set aside (its history stays restorable), streaming anew. */
export function rotateScript(app: string, stamp: string): string {
  const d = shq(pitrDir(app));
  return `set -e
systemctl stop infra-pitr-wal@${app}.service 2>/dev/null || true
cd ${d}
mkdir before-restore-${stamp}
for x in base wal gap; do [ ! -e "$x" ] || mv "$x" before-restore-${stamp}/; done
mkdir -p base wal && chmod 700 base wal`;
}
