import type { Change, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import { timerUnit } from './lib/systemd.js';
import { diffService, serviceTask } from './service.js';

/**
 * Point-in-time recovery, the control host's side (docs/apps.md "Point-in-time recovery").
 * Per app: `pg_receivewal` streams WAL over the tailnet into PITR_DIR/APP/wal with a physical
 * replication slot, as a systemd service that restarts forever; a nightly `pg_basebackup` (tar,
 * gzip, WAL streamed into the backup) lands in PITR_DIR/APP/base/STAMP. Both run in a throwaway
 * container of the app's own image (`postgres:MAJOR`), so the client tools are the server's major
 * whatever the control host's Debian ships (pg_receivewal(1), pg_basebackup(1): PostgreSQL 16-18,
 * "works with servers of the same or an older major version").
 *
 * The replication password is made on the control host and never leaves it: only its SCRAM
 * verifier is learned, and the apps host stores that as the role's password ("If the password
 * string is already in SCRAM-encrypted format, it is stored as-is": CREATE ROLE, PostgreSQL 16-18).
 */
export const PITR_DIR = '/var/backups/infra-pitr';
export const pitrDir = (app: string) => `${PITR_DIR}/${app}`;
export const PITR_ETC = '/etc/infra/pitr';
export const PITR_ROLE = 'infra_wal';
export const PITR_SLOT = 'infra_pitr';
export const WAL_UNIT = 'infra-pitr-wal';
export const BASE_UNIT = 'infra-pitr-base';
export const BASE_SCRIPT_PATH = '/usr/local/sbin/infra-pitr-base';
/** The receiver's start check (tasks/pitr-gap.ts): the slot, and no streaming on top of a gap. */
export const WAL_START_PATH = '/usr/local/sbin/infra-pitr-wal-start';
/** A base backup older than this is stale: nightly at 03:30 plus a run's time and slack. */
export const BASE_STALE_AFTER_SEC = 26 * 3600;

export interface PitrTarget {
  app: string;
  /** The apps host, and the verifier its role was set up with (learned there). */
  host: string;
  sourceVerifier: string;
  /** The apps host's tailnet address and the app's published PostgreSQL port there. */
  address: string;
  port: number;
  major: number;
  keepDays: number;
}

/** Pure: the env file a template unit instance reads (systemd.exec "EnvironmentFile="). */
export function envFile(t: PitrTarget): string {
  return `# Installed by infra: where ${t.app}'s WAL comes from (docs/apps.md "Point-in-time recovery").
PG_HOST=${t.address}
PG_PORT=${t.port}
PG_MAJOR=${t.major}
KEEP_DAYS=${t.keepDays}
`;
}

/**
 * The receiver's unit, enabled and running, or retrying: with the apps host down, ExecStartPre
 * fails and `Restart=always` keeps the unit `activating` (auto-restart) until it answers again.
 * Starting it by hand would only fail the same way, so that is not this host's drift: the apps
 * host's side reports the stream stopped (an inactive slot) once it is reachable.
 */
export function receiverTask(app: string, after: string[]) {
  const unit = `${WAL_UNIT}@${app}.service`;
  const task = serviceTask(unit, after);
  return {
    ...task,
    diff: (s: Parameters<typeof task.diff>[0]) =>
      diffService(unit, s.active === 'activating' ? { ...s, active: 'active' } : s),
  };
}

/**
 * The gate before an app's receiver: the apps host's role was set up with this host's current
 * verifier. When this host's secret was made anew (a rebuilt control host, /etc/infra/pitr lost),
 * the receiver would only be refused: it waits for the apps host's run to take the new verifier.
 */
export function readyTask(t: PitrTarget, after: string[]): Task<string | null> {
  return {
    id: `pitr:${t.app}:ready`,
    after,
    probe: `cat ${shq(verifierPath(t.app))} 2>/dev/null || true`,
    parse: (out) => out.trim() || null,
    diff: (v): Change[] =>
      v === t.sourceVerifier
        ? []
        : [
            {
              summary: `${t.host} has ${t.app}'s replication role with another password than this host's: its WAL streams once ${t.host} is applied`,
              kind: 'pitr-source-stale',
            },
          ],
    apply: () => [],
    wait: () => ({ on: t.host, run: `infra apply ${t.host}` }),
  };
}

const DOCKER_RUN = `/usr/bin/docker run --rm --network host -e PGPASSFILE=/pgpass -v ${PITR_ETC}/%i.pgpass:/pgpass:ro`;

/**
 * `--no-loop`: a lost connection ends pg_receivewal and systemd starts it again (Restart=), so
 * every reconnect passes the start check first (tasks/pitr-gap.ts): pg_receivewal's own loop
 * would retry a slot the server invalidated forever. It resumes from its `.partial` segment
 * (pg_receivewal(1): "starts at the end of the last complete segment ... or the partial one").
 */
export const walServiceUnit = `# Installed by infra: stream the WAL of one app to this host (docs/apps.md "Point-in-time recovery").
[Unit]
Description=infra: WAL of %i, streamed for point-in-time recovery
Requires=docker.service
After=docker.service network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=${PITR_ETC}/%i.env
# The slot is made by this side (a slot on the apps host means streaming was set up there), and
# a gap in the archive stops the start until infra apply recovers (docs/apps.md).
ExecStartPre=${WAL_START_PATH} %i
ExecStart=${DOCKER_RUN} --name infra-pitr-wal-%i -v ${PITR_DIR}/%i/wal:/wal postgres:\${PG_MAJOR} pg_receivewal -h \${PG_HOST} -p \${PG_PORT} -U ${PITR_ROLE} -w -D /wal --slot ${PITR_SLOT} --status-interval 10 --no-loop
ExecStop=/usr/bin/docker stop -t 10 infra-pitr-wal-%i
Restart=always
RestartSec=10
# The first start may pull the image through the registry: longer than systemd's 90 s default.
TimeoutStartSec=10min

[Install]
WantedBy=multi-user.target
`;

export const baseServiceUnit = `# Installed by infra: one base backup of one app (docs/apps.md "Point-in-time recovery").
[Unit]
Description=infra: base backup of %i for point-in-time recovery
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
EnvironmentFile=${PITR_ETC}/%i.env
ExecStart=${BASE_SCRIPT_PATH} %i
`;

export const baseTimerUnit = timerUnit({
  description: 'nightly base backup of %i',
  onCalendar: '*-*-* 03:30:00',
  randomizedDelay: '20m',
});

/**
 * infra-pitr-base APP (env from the unit): a base backup into a dot-name, renamed into place only
 * when pg_basebackup exited 0 (an interrupted one never counts), then retention: base backups older
 * than KEEP_DAYS go (the newest always stays), and WAL segments before the oldest kept backup's
 * start segment (read from its backup_label) go too. `--checkpoint=fast`: no wait for a spread
 * checkpoint (pg_basebackup(1) "-c").
 */
export const BASE_SCRIPT = `#!/bin/sh
# infra-pitr-base APP - installed by infra; see docs/apps.md "Point-in-time recovery".
set -eu
app="$1"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-pitr-base: bad app name" >&2; exit 2;; esac
[ -n "\${PG_HOST:-}" ] || . ${PITR_ETC}/"$app".env
dir=${PITR_DIR}/$app/base
mkdir -p "$dir" && chmod 700 ${PITR_DIR} ${PITR_DIR}/"$app" "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
tmp="$dir/.$stamp.partial"
rm -rf "$dir"/.*.partial
docker run --rm --network host -e PGPASSFILE=/pgpass -v ${PITR_ETC}/"$app".pgpass:/pgpass:ro -v "$dir":/base \\
  postgres:"$PG_MAJOR" pg_basebackup -h "$PG_HOST" -p "$PG_PORT" -U ${PITR_ROLE} -w -D /base/."$stamp".partial \\
  -Ft -z -X stream --checkpoint=fast --no-sync >/dev/null
[ -s "$tmp/base.tar.gz" ] || { echo "infra-pitr-base: $app: no base.tar.gz" >&2; exit 1; }
sync -f "$tmp/base.tar.gz"
date -u +%Y-%m-%dT%H:%M:%SZ > "$tmp/done"
mv "$tmp" "$dir/$stamp"
cutoff=$(date -u -d "-\${KEEP_DAYS:-14} days" +%Y%m%dT%H%M%SZ)
newest=$(ls -1 "$dir" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tail -n 1)
for b in $(ls -1 "$dir" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort); do
  [ "$b" = "$newest" ] && continue
  [ "$(printf '%s\\n%s\\n' "$b" "$cutoff" | sort | head -n 1)" = "$b" ] && [ "$b" != "$cutoff" ] && rm -rf "\${dir:?}/$b"
done
oldest=$(ls -1 "$dir" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | head -n 1)
first=$(tar -xzOf "$dir/$oldest/base.tar.gz" backup_label | sed -n 's/^START WAL LOCATION: .*(file \\([0-9A-F]\\{24\\}\\))$/\\1/p')
if [ -n "$first" ]; then
  for w in $(ls -1 ${PITR_DIR}/"$app"/wal 2>/dev/null | grep -E '^[0-9A-F]{24}(\\.partial)?$'); do
    # Same ordering PostgreSQL uses (timeline, then position): plain string order of the 24 digits.
    [ "$(printf '%s\\n%s\\n' "\${w%.partial}" "$first" | sort | head -n 1)" = "\${w%.partial}" ] && [ "\${w%.partial}" != "$first" ] && rm -f ${PITR_DIR}/"$app"/wal/"$w"
  done
fi
echo "$app: base backup $stamp in $dir"
`;

export const runBaseBackup = (app: string) => shCmd([BASE_SCRIPT_PATH, app]);

/** Pure: `APP VERIFIER` lines (VERIFIER `missing` when the password is not made yet). */
export function parseVerifiers(out: string): Record<string, string | null> {
  const m: Record<string, string | null> = {};
  for (const line of out.split('\n')) {
    const [app, v] = line.trim().split(/\s+/);
    if (!app || !v) continue;
    m[app] = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/.test(v) ? v : null;
  }
  return m;
}

/**
 * The SCRAM-SHA-256 verifier as PostgreSQL stores it, `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`
 * (src/backend/libpq/auth-scram.c scram_build_secret; RFC 5802/7677), 4096 iterations like
 * scram_iterations' default. python3 is in Debian's minimal cloud images; no other tool here has it.
 */
export const VERIFIER_PY = `import base64,hashlib,hmac,os,sys
pw=open(sys.argv[1]).read().strip().encode()
salt=os.urandom(16);i=4096
s=hashlib.pbkdf2_hmac('sha256',pw,salt,i)
ck=hmac.new(s,b'Client Key','sha256').digest()
sk=hmac.new(s,b'Server Key','sha256').digest()
b=lambda x:base64.b64encode(x).decode()
print('SCRAM-SHA-256$%d:%s$%s:%s'%(i,b(salt),b(hashlib.sha256(ck).digest()),b(sk)))`;

export const passwordPath = (app: string) => `${PITR_ETC}/${app}.password`;
export const verifierPath = (app: string) => `${PITR_ETC}/${app}.verifier`;

/** Shell: the app's replication password, its pgpass line and its verifier, each made once. */
export function secretScript(app: string): string {
  const p = shq(passwordPath(app));
  const v = shq(verifierPath(app));
  const pass = shq(`${PITR_ETC}/${app}.pgpass`);
  return [
    'set -e',
    "command -v python3 >/dev/null 2>&1 || { echo 'python3 is needed to make the replication password verifier: apt-get install python3-minimal' >&2; exit 1; }",
    `mkdir -p ${shq(PITR_ETC)} && chmod 700 ${shq(PITR_ETC)}`,
    'umask 077',
    `if [ ! -s ${p} ]; then head -c 80 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 40 > ${p}.tmp && mv -f ${p}.tmp ${p}; rm -f ${v}; fi`,
    // libpq's password file: a replication connection matches database `replication` (libpq "The Password File").
    `printf '*:*:*:%s:%s\\n' ${shq(PITR_ROLE)} "$(cat ${p})" > ${pass}.tmp && mv -f ${pass}.tmp ${pass}`,
    `[ -s ${v} ] || { python3 -c ${shq(VERIFIER_PY)} ${p} > ${v}.tmp && mv -f ${v}.tmp ${v}; }`,
  ].join('\n');
}

/** Every app's replication secret on the control host; learns the verifiers for the apps hosts. */
export function pitrSecretsTask(
  apps: readonly string[],
  after: string[],
): Task<Record<string, string | null>> {
  return {
    id: 'pitr:secrets',
    after,
    probe: apps
      .map(
        (a) =>
          `printf '%s %s\\n' ${shq(a)} "$( [ -s ${shq(`${PITR_ETC}/${a}.pgpass`)} ] && cat ${shq(verifierPath(a))} 2>/dev/null || echo missing)"`,
      )
      .join('\n'),
    parse: parseVerifiers,
    diff: (m): Change[] =>
      apps
        .filter((a) => !m[a])
        .map((a) => ({
          summary: `generate the WAL streaming password of ${a} (once, on this host; only its verifier leaves it)`,
          kind: 'secret-missing',
        })),
    apply: (m) => apps.filter((a) => !m[a]).map((a) => ({ script: secretScript(a) })),
    learn: (m) => {
      const v = Object.fromEntries(Object.entries(m).filter((e): e is [string, string] => !!e[1]));
      return Object.keys(v).length ? { pitrVerifiers: v } : {};
    },
  };
}

export interface BaseState {
  /** Age in seconds and stamp of the newest complete base backup. */
  newest: { ageSec: number; stamp: string } | null;
  walFiles: number;
}

/** Pure: `newest AGE STAMP` / `newest none`, then `wal N`. */
export function parseBase(out: string): BaseState {
  const n = /^newest (\d+) (\S+)$/m.exec(out);
  const w = /^wal (\d+)$/m.exec(out);
  return { newest: n ? { ageSec: Number(n[1]), stamp: n[2]! } : null, walFiles: w ? Number(w[1]) : 0 };
}

/** Pure: no base backup while WAL arrives, or the newest older than 26 h. */
export function diffBase(app: string, s: BaseState): Change[] {
  if (!s.newest)
    return s.walFiles > 0
      ? [{ summary: `take the first base backup of ${app} (WAL is streaming)`, kind: 'pitr-base-missing' }]
      : [];
  if (s.newest.ageSec <= BASE_STALE_AFTER_SEC) return [];
  return [
    {
      summary: `the newest base backup of ${app} is ${Math.floor(s.newest.ageSec / 3600)} h old (${s.newest.stamp}): take one`,
      kind: 'pitr-base-stale',
      expected: '< 26h',
      actual: `${Math.floor(s.newest.ageSec / 3600)}h`,
    },
  ];
}

export function pitrBaseBackupTask(app: string, after: string[]): Task<BaseState> {
  const d = shq(`${pitrDir(app)}/base`);
  return {
    id: `pitr:${app}:base`,
    after,
    probe: `n=$(ls -1 ${d} 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tail -n 1)
if [ -n "$n" ] && [ -f ${d}/"$n"/done ]; then echo "newest $(( $(date +%s) - $(date -u -d "$(cat ${d}/"$n"/done)" +%s) )) $n"; else echo newest none; fi
echo "wal $(ls -1 ${shq(`${pitrDir(app)}/wal`)} 2>/dev/null | grep -cE '^[0-9A-F]{24}(.partial)?$')"`,
    parse: parseBase,
    diff: (s) => diffBase(app, s),
    apply: () => [{ script: runBaseBackup(app), timeoutMs: 60 * 60_000 }],
  };
}
