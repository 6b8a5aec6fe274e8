import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { type DesiredFile, fileTask } from './file.js';
import { BACKUPS_DIR } from './pg-backup.js';
import { APPS_DIR } from './postgres-app.js';

/**
 * The apps host's side of the off-host copies: a system user the control host logs in as, whose
 * only possible command is SERVE_SCRIPT (`restrict,command=` in authorized_keys: sshd runs that
 * instead of whatever the client asked, and SSH_ORIGINAL_COMMAND holds the request; sshd(8)
 * "AUTHORIZED_KEYS FILE FORMAT"). The script answers read-only requests only, through one sudo
 * rule, so the dumps stay root's 0600 files. Nothing on the apps host can reach the control
 * host's copies: the control host pulls, and holds the only key.
 */
export const PULL_USER = 'infra-pull';
export const PULL_HOME = '/var/lib/infra-pull';
export const SERVE_SCRIPT_PATH = '/usr/local/sbin/infra-backup-serve';
export const SUDOERS_PATH = '/etc/sudoers.d/infra-backup-serve';
export const AUTHORIZED_KEYS = `${PULL_HOME}/.ssh/authorized_keys`;

export const SERVE_SCRIPT = `#!/bin/sh
# infra-backup-serve VERB APP [NAME] - installed by infra: the forced command of ${PULL_USER}, the
# control host's read-only way to its copies. Verbs: list APP, sum|get|manifest APP NAME, password APP.
set -eu
if [ "$(id -u)" != 0 ]; then
  # As ${PULL_USER}: the request's words, unglobbed, handed to root's half below (one sudo rule).
  set -f
  # shellcheck disable=SC2086
  set -- \${SSH_ORIGINAL_COMMAND:-}
  exec sudo -n ${SERVE_SCRIPT_PATH} "$@"
fi
[ "$#" -ge 2 ] && [ "$#" -le 3 ] || { echo "infra-backup-serve: expected VERB APP [NAME]" >&2; exit 2; }
verb="$1"; app="$2"; name="\${3:-}"
case "$app" in ''|*[!a-z0-9-]*) echo "infra-backup-serve: bad app name" >&2; exit 2;; esac
dir=${BACKUPS_DIR}/$app
named() {
  case "$name" in "$app"-[0-9]*T[0-9]*Z.dump) ;; *) echo "infra-backup-serve: bad backup name" >&2; exit 2;; esac
  case "$name" in *[!a-zA-Z0-9.-]*) echo "infra-backup-serve: bad backup name" >&2; exit 2;; esac
  [ -f "$dir/$name" ] && [ -f "$dir/$name.sha256" ] || { echo "infra-backup-serve: no backup $name" >&2; exit 4; }
}
case "$verb" in
  list) [ -d "$dir" ] || exit 0
    cd "$dir"; for f in "$app"-*.dump; do [ -f "$f" ] && [ -f "$f.sha256" ] && printf '%s %s\\n' "$f" "$(stat -c %s "$f")"; done; exit 0;;
  sum) named; exec cat "$dir/$name.sha256";;
  get) named; exec cat "$dir/$name";;
  manifest) named; [ -f "$dir/$name.manifest" ] || exit 0; exec cat "$dir/$name.manifest";;
  password) exec cat ${APPS_DIR}/$app/pg_password;;
  *) echo "infra-backup-serve: unknown request" >&2; exit 2;;
esac
`;

/** sudo runs the script as root for this user only, with any arguments (the script checks them). */
export const SUDOERS = `# Installed by infra: the control host's read-only access to the dumps (${SERVE_SCRIPT_PATH}).
${PULL_USER} ALL=(root) NOPASSWD: ${SERVE_SCRIPT_PATH}
`;

/** Pure: the authorized_keys line: no pty, no forwarding, only the serve script. */
export function authorizedKeysText(publicKey: string): string {
  return `# Installed by infra: the control host's backup pull key; it can only run ${SERVE_SCRIPT_PATH}.
restrict,command="${SERVE_SCRIPT_PATH}" ${publicKey.trim()}
`;
}

/** The user (locked password, a shell for the forced command) and sudo itself. */
export function pullUserTask(after: string[]): Task<{ user: boolean; sudo: boolean }> {
  const u = shq(PULL_USER);
  return {
    id: `user:${PULL_USER}`,
    after,
    probe: `id -u ${u} >/dev/null 2>&1 && echo user=yes || echo user=no\ncommand -v sudo >/dev/null 2>&1 && echo sudo=yes || echo sudo=no`,
    parse: (out) => ({ user: out.includes('user=yes'), sudo: out.includes('sudo=yes') }),
    diff: (s): Change[] => [
      ...(s.sudo
        ? []
        : [
            {
              summary: 'install sudo (the backup pull user runs one command as root)',
              kind: 'package-missing',
            },
          ]),
      ...(s.user ? [] : [{ summary: `create the backup pull user ${PULL_USER}`, kind: 'user-missing' }]),
    ],
    apply: (s) => [
      ...(s.sudo
        ? []
        : [{ script: 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q sudo', timeoutMs: 10 * 60_000 }]),
      ...(s.user
        ? []
        : [
            {
              // '*' rather than useradd's '!': a password that can never match, not a "locked" account.
              script: `useradd --system --home-dir ${shq(PULL_HOME)} --create-home --shell /bin/sh ${u} && usermod -p '*' ${u}`,
            },
          ]),
    ],
  };
}

export function serveFiles(publicKey: string): DesiredFile[] {
  return [
    { path: SERVE_SCRIPT_PATH, content: SERVE_SCRIPT, mode: '755' },
    // visudo checks the syntax; a broken file is removed again so sudo keeps working.
    {
      path: SUDOERS_PATH,
      content: SUDOERS,
      mode: '440',
      onChange: 'visudo -cqf "$f" || { rm -f "$f"; exit 1; }',
    },
    { path: AUTHORIZED_KEYS, content: authorizedKeysText(publicKey), mode: '644' },
  ];
}

export function backupServeTasks(publicKey: string, after: string[]): Task[] {
  const user = pullUserTask(after);
  return [user, ...serveFiles(publicKey).map((f) => fileTask(f, [user.id]) as Task)];
}
