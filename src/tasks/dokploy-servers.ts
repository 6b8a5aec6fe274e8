import type { Change } from '../engine/task.js';
import { shq } from '../quote.js';
import { apiHelpers } from './dokploy-api.js';
import {
  apiTrouble,
  type DesiredServer,
  fail,
  MANAGED,
  type RemoteState,
  SSH_KEY_NAME,
} from './dokploy-remote-state.js';

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
