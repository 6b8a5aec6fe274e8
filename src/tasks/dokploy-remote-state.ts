import type { Change } from '../engine/task.js';
import { shq } from '../quote.js';
import { answer, apiHelpers } from './dokploy-api.js';
import { sections } from './lib/parse.js';

/**
 * The apps hosts as Dokploy "remote servers" (docs/stacks.md, "Apps hosts in Dokploy"), through
 * Dokploy v0.30.2's API:
 * - apps/dokploy/server/api/routers/ssh-key.ts: `sshKey.generate` ({type}: a key pair made by
 *   Dokploy, utils/filesystem/ssh.ts), `sshKey.create` (name, description, privateKey, publicKey,
 *   organizationId; returns nothing), `sshKey.all` (whole rows, private keys included: the probe
 *   keeps id and public key only, on the host);
 * - apps/dokploy/server/api/routers/server.ts with db/schema/server.ts apiCreateServer /
 *   apiUpdateServer: name, description, ipAddress, port, username, sshKeyId, serverType (all
 *   required), `server.all`, and `server.validate` ({serverId}), which logs in over SSH with the
 *   server's key and reports docker and the docker group (setup/server-validate.ts).
 * The servers infra registers carry MANAGED in their description; others are the operator's.
 */
export const SSH_KEY_NAME = 'infra';
export const MANAGED = 'managed by infra';

export interface DesiredServer {
  name: string;
  ipAddress: string;
  port: number;
  username: string;
}

export interface DokployServer {
  serverId: string;
  name: string;
  description: string | null;
  ipAddress: string;
  port: number;
  username: string;
  sshKeyId: string | null;
  serverType: string;
  enableDockerCleanup?: boolean;
}

export interface RemoteState {
  jq: boolean;
  /** HTTP code of sshKey.all and server.all (200 unless the key or Dokploy failed). */
  code: string;
  /** infra's key in Dokploy (named SSH_KEY_NAME), if any. */
  key?: { sshKeyId: string; publicKey: string };
  servers: DokployServer[];
  /** server name -> server.validate's answer: ok, or Dokploy's error message. */
  reach: Record<string, { ok: boolean; message: string }>;
}

const jqOrExit = 'command -v jq >/dev/null 2>&1 || { echo @@nojq; exit 0; }';
const bodyThen = (call: string, filter: string) =>
  `a=$(${call}); printf '%s\\n' "$a" | sed '$d' | jq -c ${shq(`if type == "array" then ${filter} else . end`)} 2>/dev/null || true; printf '%s\\n' "$a" | tail -n1`;

/**
 * One probe for the servers, the orphans and the SSH check (tasks with the same probe share one
 * run): only GET calls, so a run with nothing to do writes nothing to Dokploy.
 */
export function remoteProbe(dir: string, names: readonly string[]): string {
  return [
    jqOrExit,
    apiHelpers(dir),
    'echo @@keys',
    bodyThen(
      'dk_api GET /api/sshKey.all',
      `map(select(.name == ${JSON.stringify(SSH_KEY_NAME)}) | {sshKeyId, publicKey})`,
    ),
    'echo @@servers',
    'all=$(dk_api GET /api/server.all)',
    bodyThen(
      `printf '%s\\n' "$all"`,
      'map({serverId, name, description, ipAddress, port, username, sshKeyId, serverType, enableDockerCleanup})',
    ),
    ...names.flatMap((n) => [
      `echo @@reach-${n}`,
      `id=$(printf '%s\\n' "$all" | sed '$d' | jq -r --arg n ${shq(n)} 'if type == "array" then map(select(.name == $n))[0].serverId // empty else empty end' 2>/dev/null) || id=''`,
      `if [ -n "$id" ]; then dk_api GET "/api/server.validate?serverId=$id" | jq -Rs -c 'split("\\n") | map(select(. != ""))' 2>/dev/null; fi`,
    ]),
  ].join('\n');
}

export function parseRemote(stdout: string): RemoteState {
  const s = sections(stdout);
  if (s.has('nojq')) return { jq: false, code: '000', servers: [], reach: {} };
  const keys = answer(s.get('keys'));
  const servers = answer(s.get('servers'));
  const json = (t: string) => {
    try {
      return JSON.parse(t || 'null');
    } catch {
      return null;
    }
  };
  const keyList = json(keys.body);
  const serverList = json(servers.body);
  const reach: RemoteState['reach'] = {};
  for (const [name, text] of s)
    if (name.startsWith('reach-') && text.trim()) {
      const lines = (json(text.trim()) as string[] | null) ?? [];
      const code = lines.at(-1) ?? '000';
      const body = json(lines.slice(0, -1).join('\n'));
      const ok = code === '200' && body?.docker?.enabled === true && body?.dockerGroupMember === true;
      const message =
        code === '200'
          ? `docker ${body?.docker?.enabled ? 'found' : 'missing'}, docker group ${body?.dockerGroupMember ? 'yes' : 'no'}`
          : String(body?.message ?? `HTTP ${code}`);
      reach[name.slice('reach-'.length)] = { ok, message };
    }
  return {
    jq: true,
    code: keys.code !== '200' ? keys.code : servers.code,
    key: Array.isArray(keyList) && keyList[0]?.sshKeyId ? keyList[0] : undefined,
    servers: Array.isArray(serverList) ? serverList : [],
    reach,
  };
}

/** What keeps every remote task from reading Dokploy: no jq, or the API refusing infra's key. */
export const apiTrouble = (st: RemoteState): Change[] =>
  !st.jq
    ? [{ summary: "Dokploy's API needs jq on the host", kind: 'package-missing' }]
    : st.code !== '200'
      ? [{ summary: `Dokploy's API answers HTTP ${st.code} to infra's key`, kind: 'dokploy-api' }]
      : [];

/** Shell: a refused call (its answer in $r), for the key and servers scripts: the step and HTTP code. */
export const fail = (what: string) =>
  `{ echo ${shq(`stack dokploy: ${what}`)}" (HTTP $(printf '%s\\n' "$r" | tail -n1))" >&2; exit 1; }`;
