import type { Change, Facts, Task } from '../engine/task.js';
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
export const DEPLOY_USER = 'dokploy';
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

const apiTrouble = (st: RemoteState): Change[] =>
  !st.jq
    ? [{ summary: "Dokploy's API needs jq on the host", kind: 'package-missing' }]
    : st.code !== '200'
      ? [{ summary: `Dokploy's API answers HTTP ${st.code} to infra's key`, kind: 'dokploy-api' }]
      : [];

/** Pure: infra's SSH key in Dokploy. */
export function diffSshKey(st: RemoteState): Change[] {
  const trouble = apiTrouble(st);
  if (trouble.length) return trouble;
  return st.key
    ? []
    : [
        {
          summary: `create SSH key "${SSH_KEY_NAME}" in Dokploy (generated by Dokploy)`,
          kind: 'ssh-key-missing',
        },
      ];
}

const FIELDS = ['ipAddress', 'port', 'username', 'sshKeyId', 'serverType'] as const;

/** Pure: each apps host registered as a deploy server with infra's key; what differs is updated. */
export function diffServers(st: RemoteState, want: readonly DesiredServer[]): Change[] {
  const trouble = apiTrouble(st);
  if (trouble.length) return trouble;
  if (!st.key)
    return want.length ? [{ summary: 'no SSH key of infra in Dokploy yet', kind: 'ssh-key-missing' }] : [];
  const out: Change[] = [];
  for (const w of want) {
    const target = { ...w, sshKeyId: st.key.sshKeyId, serverType: 'deploy' };
    const have = st.servers.find((x) => x.name === w.name);
    if (!have) {
      out.push({
        summary: `register ${w.name} in Dokploy as a server: ${w.username}@${w.ipAddress}:${w.port}, SSH key ${SSH_KEY_NAME}`,
        kind: 'server-missing',
        expected: target,
        actual: null,
      });
      continue;
    }
    const why = FIELDS.filter((f) => String(have[f]) !== String(target[f])).map(
      (f) => `${f} ${target[f]} (is ${have[f] ?? 'none'})`,
    );
    if (why.length)
      out.push({
        summary: `update Dokploy server ${w.name}: ${why.join(', ')}`,
        kind: 'server-changed',
        expected: target,
        actual: Object.fromEntries(FIELDS.map((f) => [f, have[f]])),
      });
  }
  return out;
}

/** Pure: servers infra registered whose host left the inventory (never deregistered by infra). */
export function orphanServers(st: RemoteState, hosts: readonly string[]): string[] {
  return st.servers
    .filter((x) => (x.description ?? '').startsWith(MANAGED) && !hosts.includes(x.name))
    .map((x) => x.name)
    .sort();
}

/**
 * Pure: a login that failed for what the deploy user owns (key, user, docker group). A network
 * failure (the host down, the tailnet cut: "SSH connection error") is not the control host's
 * drift: infra reports that host unreachable itself, and toucan's check stays about toucan.
 */
export function loginFailed(st: RemoteState, name: string): boolean {
  const r = st.reach[name];
  return !!r && !r.ok && !/^SSH connection error/.test(r.message);
}

/** Pure: registered servers that Dokploy cannot log in to (server.validate). */
export function unreachable(st: RemoteState, want: readonly DesiredServer[]): Change[] {
  return want
    .filter((w) => loginFailed(st, w.name))
    .map((w) => ({
      summary: `Dokploy cannot use ${w.name} as ${w.username}@${w.ipAddress}: ${st.reach[w.name]!.message}`,
      kind: 'server-unreachable',
      actual: st.reach[w.name]!.message,
    }));
}

const fail = (what: string) =>
  `{ echo ${shq(`stack dokploy: ${what}`)}" (HTTP $(printf '%s\\n' "$r" | tail -n1))" >&2; exit 1; }`;

/** Shell: generate the pair in Dokploy and store it there; the private key stays in the pipe. */
export function createSshKeyScript(dir: string): string {
  return [
    'set -e',
    apiHelpers(dir),
    `r=$(dk_api GET /api/organization.all); org=$(dk_ok "$r" | jq -r '.[0].id // empty') || org=''`,
    `[ -n "$org" ] || ${fail("no organisation for infra's API key")}`,
    `r=$(printf '{"type":"ed25519"}' | dk_api POST /api/sshKey.generate)`,
    `dk_ok "$r" >/dev/null || ${fail('sshKey.generate was refused')}`,
    `r=$(dk_ok "$r" | jq -c --arg o "$org" ${shq(`{name: ${JSON.stringify(SSH_KEY_NAME)}, description: "${MANAGED}: Dokploy's key for the apps hosts", privateKey, publicKey, organizationId: $o}`)} | dk_api POST /api/sshKey.create)`,
    `dk_ok "$r" >/dev/null || ${fail('sshKey.create was refused')}`,
  ].join('\n');
}

/** Shell: server.create / server.update for each change (bodies built here: no secret in them). */
export function serversScript(dir: string, st: RemoteState, changes: readonly Change[]): string {
  const lines = ['set -e', apiHelpers(dir)];
  for (const c of changes) {
    const t = c.expected as DesiredServer & { sshKeyId: string; serverType: string };
    if (!t) continue;
    const have = st.servers.find((x) => x.name === t.name);
    const body = {
      ...(have ? { serverId: have.serverId } : {}),
      name: t.name,
      description: `${MANAGED} (inventory host ${t.name})`,
      ipAddress: t.ipAddress,
      port: t.port,
      username: t.username,
      sshKeyId: t.sshKeyId,
      serverType: t.serverType,
      // Dokploy's default on create; on update, what the operator chose stays.
      enableDockerCleanup: have?.enableDockerCleanup ?? true,
    };
    const proc = have ? 'server.update' : 'server.create';
    lines.push(
      `r=$(printf '%s' ${shq(JSON.stringify(body))} | dk_api POST /api/${proc})`,
      `dk_ok "$r" >/dev/null || ${fail(`${proc} ${t.name} was refused`)}`,
    );
  }
  return lines.join('\n');
}

export interface RemoteOptions {
  dir: string;
  want: DesiredServer[];
  /** Every apps host of the inventory (registered or not yet): the others are orphans. */
  appsHosts: string[];
  after: string[];
}

/** The SSH key, the servers, the orphans and the login check: four tasks over one probe. */
export function remoteTasks(o: RemoteOptions): Task<RemoteState>[] {
  const probe = remoteProbe(
    o.dir,
    o.want.map((w) => w.name),
  );
  const common = { probe, parse: parseRemote };
  const key: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:ssh-key',
    after: o.after,
    diff: diffSshKey,
    apply: () => [{ script: createSshKeyScript(o.dir), timeoutMs: 60_000 }],
    learn: (st): Facts => (st.key ? { dokployPublicKey: st.key.publicKey.trim() } : {}),
  };
  const servers: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:servers',
    after: [key.id],
    diff: (st) => diffServers(st, o.want),
    apply: (st, changes) => [{ script: serversScript(o.dir, st, changes), timeoutMs: 60_000 }],
  };
  const orphans: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:orphans',
    after: [key.id],
    diff: (st) =>
      orphanServers(st, o.appsHosts).map((n) => ({
        summary: `Dokploy server ${n} was registered by infra, but host ${n} is no longer in the inventory (infra never deregisters)`,
        kind: 'server-orphan',
        actual: n,
      })),
    apply: () => [],
    wait: (st) => {
      const names = orphanServers(st, o.appsHosts);
      return names.length
        ? {
            on: 'the operator',
            run: `remove ${names.join(', ')} in Dokploy (Servers), or put it back in the inventory`,
          }
        : undefined;
    },
  };
  const reach: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:reach',
    after: [servers.id],
    diff: (st) => unreachable(st, o.want),
    apply: () => [],
    // Dokploy's login needs the deploy user and key on the apps host: that host's run makes them.
    wait: (st) => {
      const bad = o.want.filter((w) => loginFailed(st, w.name)).map((w) => w.name);
      return bad.length ? { on: bad.join(', '), run: `infra apply ${bad.join(' ')}` } : undefined;
    },
  };
  return [key, servers, orphans, reach];
}
