import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { atomicWrite, base64Of, fromBase64 } from './lib/file.js';
import { keyValues } from './lib/parse.js';

/**
 * The user Dokploy logs in as on an apps host (docs/stacks.md, "Apps hosts in Dokploy"): in the
 * docker group (Dokploy runs docker over SSH; server-validate.ts checks `groups | grep docker`),
 * no password and a locked one (`passwd -S` says L), and exactly one authorised key: Dokploy's,
 * usable only from the control host's tailnet address (`from=`, sshd(8) AUTHORIZED_KEYS FILE
 * FORMAT). UFW already closes public SSH; `from=` holds even if the firewall does not.
 * infra owns the whole authorized_keys file of this user.
 */
export const DEPLOY_USER = 'dokploy';
export const DEPLOY_HOME = `/home/${DEPLOY_USER}`;
const KEYS = `${DEPLOY_HOME}/.ssh/authorized_keys`;

export interface DeployUserState {
  exists: boolean;
  /** `passwd -S` status letter: L locked, NP no password, P usable password. */
  password: string;
  groups: string[];
  shell: string;
  home: string;
  /** The authorized_keys content ("" when missing) and its mode/owner. */
  keys: string;
  keysMeta: string;
  sshMeta: string;
}

/** Pure: the one line Dokploy's key is allowed as. */
export const authorizedLine = (publicKey: string, from: string) => `from="${from}" ${publicKey.trim()}\n`;

export const DEPLOY_USER_PROBE = [
  `if ! getent passwd ${DEPLOY_USER} >/dev/null; then echo exists=no; exit 0; fi`,
  'echo exists=yes',
  `getent passwd ${DEPLOY_USER} | awk -F: '{print "shell=" $7; print "home=" $6}'`,
  `echo "password=$(passwd -S ${DEPLOY_USER} 2>/dev/null | awk '{print $2}')"`,
  `echo "groups=$(id -nG ${DEPLOY_USER} | tr ' ' ,)"`,
  `echo "sshmeta=$(stat -c '%a %U' ${shq(`${DEPLOY_HOME}/.ssh`)} 2>/dev/null)"`,
  `echo "keysmeta=$(stat -c '%a %U' ${shq(KEYS)} 2>/dev/null)"`,
  `echo "keys=$(${base64Of(KEYS)} 2>/dev/null)"`,
].join('\n');

export function parseDeployUser(stdout: string): DeployUserState {
  const kv = keyValues(stdout);
  return {
    exists: kv.get('exists') === 'yes',
    password: kv.get('password') ?? '',
    groups: (kv.get('groups') ?? '').split(',').filter(Boolean),
    shell: kv.get('shell') ?? '',
    home: kv.get('home') ?? '',
    keys: fromBase64(kv.get('keys') ?? ''),
    keysMeta: kv.get('keysmeta') ?? '',
    sshMeta: kv.get('sshmeta') ?? '',
  };
}

/** Pure. `line` undefined: the control host has not told its key yet (the task waits). */
export function diffDeployUser(st: DeployUserState, line: string | undefined): Change[] {
  if (!st.exists)
    return [
      { summary: `create user ${DEPLOY_USER} for Dokploy (docker group, no password)`, kind: 'user-missing' },
    ];
  const out: Change[] = [];
  if (st.password !== 'L')
    out.push({
      summary: `lock the password of ${DEPLOY_USER} (passwd -S: ${st.password || '?'})`,
      kind: 'user-password',
      expected: 'L',
      actual: st.password,
    });
  if (!st.groups.includes('docker'))
    out.push({ summary: `add ${DEPLOY_USER} to the docker group`, kind: 'user-groups', actual: st.groups });
  if (st.home !== DEPLOY_HOME || st.shell !== '/bin/bash')
    out.push({
      summary: `${DEPLOY_USER}: home ${DEPLOY_HOME}, shell /bin/bash (is ${st.home} ${st.shell})`,
      kind: 'user-shell',
    });
  if (line === undefined)
    out.push({
      summary: `authorise Dokploy's SSH key for ${DEPLOY_USER} (not known yet)`,
      kind: 'key-unknown',
    });
  else if (st.keys !== line)
    out.push({
      summary: `${st.keys ? 'replace' : 'write'} ${KEYS}: only Dokploy's key, from the control host's tailnet address`,
      kind: 'file-content',
      expected: line.trim(),
      actual: st.keys.trim() || null,
    });
  if (line !== undefined && (st.keysMeta !== `600 ${DEPLOY_USER}` || st.sshMeta !== `700 ${DEPLOY_USER}`))
    out.push({
      summary: `chmod 700/600, chown ${DEPLOY_USER} ${DEPLOY_HOME}/.ssh and its authorized_keys`,
      kind: 'file-mode',
    });
  return out;
}

export function deployUserScript(line: string | undefined): string {
  const lines = [
    'set -e',
    `getent passwd ${DEPLOY_USER} >/dev/null || useradd --create-home --home-dir ${shq(DEPLOY_HOME)} --shell /bin/bash --groups docker ${DEPLOY_USER}`,
    `usermod --home ${shq(DEPLOY_HOME)} --shell /bin/bash --append --groups docker ${DEPLOY_USER}`,
    // `!` alone in the password field: locked, and no password behind the lock (`passwd -S`: L).
    `usermod --password '!' ${DEPLOY_USER}`,
  ];
  if (line !== undefined)
    lines.push(
      `install -d -m 700 -o ${DEPLOY_USER} -g ${DEPLOY_USER} ${shq(`${DEPLOY_HOME}/.ssh`)}`,
      atomicWrite({
        path: KEYS,
        mode: '600',
        owner: `${DEPLOY_USER}:${DEPLOY_USER}`,
        source: `printf '%s' ${shq(line)} > "$tmp"`,
      }),
    );
  return lines.join('\n');
}

/**
 * `publicKey`/`from`: Dokploy's key and the control host's tailnet address, learned when the
 * control host ran; without them the task waits for it (the user is made once it can be used).
 */
export function deployUserTask(
  want: { control: string; publicKey: string | undefined; from: string | undefined },
  after: string[] = [],
): Task<DeployUserState> {
  const { control, publicKey, from } = want;
  const line = publicKey && from ? authorizedLine(publicKey, from) : undefined;
  return {
    id: `user:${DEPLOY_USER}`,
    after,
    probe: DEPLOY_USER_PROBE,
    parse: parseDeployUser,
    diff: (st) => diffDeployUser(st, line),
    apply: () => [{ script: deployUserScript(line) }],
    wait: () => (line ? undefined : { on: control, run: `infra apply ${control}` }),
  };
}
