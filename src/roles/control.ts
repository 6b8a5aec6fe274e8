import { readLearned } from '../engine/connect.js';
import type { AnyTask } from '../engine/task.js';
import type { Host, Inventory } from '../inventory/types.js';
import { alloyHealth, alloyStack, type LokiTarget, lokiUnknownTask } from '../tasks/alloy.js';
import { type ComposeStack, composeStackTask } from '../tasks/compose-stack.js';
import { DOKPLOY, dokploySecrets, swarmTask } from '../tasks/dokploy.js';
import { API_KEY_FILE, apiKeyTask } from '../tasks/dokploy-api.js';
import { DEPLOY_USER, type DesiredServer, remoteTasks } from '../tasks/dokploy-remote.js';
import { dokployTask } from '../tasks/dokploy-task.js';
import { GLITCHTIP, glitchtipHealth, glitchtipSecrets, glitchtipStack } from '../tasks/glitchtip.js';
import { glitchtipAdminTask } from '../tasks/glitchtip-admin.js';
import { glitchtipMailTask, glitchtipWarnings } from '../tasks/glitchtip-mail.js';
import { hostSecretsTask, type SecretFile } from '../tasks/host-secrets.js';
import {
  OBSERVABILITY,
  observabilityHealth,
  observabilitySecrets,
  observabilityStack,
} from '../tasks/observability.js';
import { packagesTask } from '../tasks/packages.js';
import { type HealthCheck, stackHealthTask } from '../tasks/stack-health.js';
import { stackDir } from '../tasks/stacks.js';
import { controlBackupTasks } from './backups.js';
import { pitrRoleTasks } from './pitr.js';

/** Tasks of the bootstrap role the stacks wait for, when the plan has them: Docker, then Tailscale. */
const PREREQUISITE = /^(service:docker\.service|packages:docker|tailscale)$/;

/** The stacks that keep generated secrets on a host, for `infra secrets show HOST STACK`. */
export function stackSecrets(
  inv: Inventory,
  hostName: string,
): Record<string, { dir: string; files: string[] }> {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (host?.role !== 'control') return {};
  const list = (stack: string, files: SecretFile[]) => ({
    dir: stackDir(stack),
    files: files.map((f) => f.name),
  });
  return {
    [OBSERVABILITY]: list(OBSERVABILITY, observabilitySecrets),
    [GLITCHTIP]: list(GLITCHTIP, glitchtipSecrets),
    [DOKPLOY]: {
      ...list(DOKPLOY, dokploySecrets),
      files: [...dokploySecrets.map((f) => f.name), API_KEY_FILE],
    },
  };
}

/** One stack: its secrets (if any), then the compose file and containers, then its health. */
function stackTasks(
  stack: ComposeStack,
  health: HealthCheck[],
  secrets: SecretFile[],
  pre: string[],
): AnyTask[] {
  const tasks: AnyTask[] = [];
  const deps = [...pre];
  if (secrets.length) {
    const s = hostSecretsTask(stack.project, stack.dir, secrets, pre);
    tasks.push(s);
    deps.push(s.id);
  }
  const compose = composeStackTask(stack, `stack:${stack.project}`, deps);
  return [...tasks, compose, stackHealthTask(stack.project, health, [compose.id], stack.waitSec)];
}

/**
 * GlitchTip: secrets, its mail .env, the stack, its health, then its superuser — which the
 * tunnel's routes wait for (gateTunnelRoutes), so GlitchTip is never public without an owner.
 */
function glitchtipTasks(inv: Inventory, host: Host, pre: string[]): AnyTask[] {
  const gt = inv.glitchtip;
  const stack = glitchtipStack(host.tunnel?.routes ?? [], gt);
  const secrets = hostSecretsTask(GLITCHTIP, stack.dir, glitchtipSecrets, pre);
  const mail = glitchtipMailTask(gt, [...pre, secrets.id]);
  const compose = composeStackTask(stack, `stack:${GLITCHTIP}`, [...pre, secrets.id, mail.id]);
  const health = stackHealthTask(GLITCHTIP, glitchtipHealth, [compose.id], stack.waitSec);
  const admin = gt ? [glitchtipAdminTask(gt.adminEmail, host.name, [health.id])] : [];
  return [secrets, mail, compose, health, ...admin];
}

/**
 * Pure: what a run says about a host beside its findings — things infra cannot fix and that
 * are not drift (exit code unchanged), printed above the recap and in `--json` as `warnings`.
 */
export function hostWarnings(inv: Inventory, hostName: string): string[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  return host?.role === 'control' ? glitchtipWarnings(inv.glitchtip) : [];
}

/**
 * Tasks that create a web UI's administrator: the tunnel publishes no route before they ran
 * (GlitchTip's superuser; Dokploy's task signs its owner up before it publishes port 3000).
 */
export const ROUTE_GATES = [`stack:${GLITCHTIP}:superuser`, `stack:${DOKPLOY}`];
const TUNNEL_ROUTES = 'file:/etc/cloudflared/config.yml';

/** Pure: the tunnel's ingress rules wait for every administrator task in the plan. */
export function gateTunnelRoutes(tasks: AnyTask[]): AnyTask[] {
  const gates = ROUTE_GATES.filter((id) => tasks.some((t) => t.id === id));
  if (!gates.length) return tasks;
  return tasks.map((t) => (t.id === TUNNEL_ROUTES ? { ...t, after: [...(t.after ?? []), ...gates] } : t));
}

/** The control server's stacks: Loki + Grafana, GlitchTip, Dokploy (docs/stacks.md). */
export function controlTasks(inv: Inventory, host: Host, pre: string[]): AnyTask[] {
  return [
    ...stackTasks(
      observabilityStack(inv.observability.retentionDays),
      observabilityHealth,
      observabilitySecrets,
      pre,
    ),
    ...glitchtipTasks(inv, host, pre),
    ...dokployTasks(inv, host, pre),
  ];
}

/** Dokploy as its installer makes it: host secret files, the swarm, then services, owner, Traefik. */
function dokployTasks(inv: Inventory, host: Host, pre: string[]): AnyTask[] {
  const dir = stackDir(DOKPLOY);
  const secrets = hostSecretsTask(DOKPLOY, dir, dokploySecrets, pre);
  const swarm = swarmTask(pre);
  const dokploy = dokployTask(dir, inv.dokploy.ownerEmail, host.publicPorts, [...pre, secrets.id, swarm.id]);
  return [secrets, swarm, dokploy, ...dokployRemoteTasks(inv, [dokploy.id])];
}

/**
 * The apps hosts in Dokploy: infra's API key, Dokploy's SSH key, one server per apps host that
 * has joined the tailnet (its address learned when it was bootstrapped), the orphans, the login
 * check. Also what an apps host's run converges on the control host (followUpPlan).
 */
export function dokployRemoteTasks(inv: Inventory, after: string[]): AnyTask[] {
  const dir = stackDir(DOKPLOY);
  const learned = readLearned(inv.stateDir);
  const apps = inv.hosts.filter((h) => h.role === 'apps');
  const want: DesiredServer[] = apps.flatMap((h) => {
    const ip = learned[h.name]?.tailnetAddress;
    return ip ? [{ name: h.name, ipAddress: ip, port: h.ssh.port, username: DEPLOY_USER }] : [];
  });
  const jq = packagesTask('stack:dokploy:jq', ['jq'], after);
  const { apiKeyRef, apiKey } = inv.dokploy;
  const given = apiKeyRef ? { ref: apiKeyRef, value: apiKey } : undefined;
  const key = apiKeyTask(dir, inv.dokploy.ownerEmail, 'dokploy_owner_password', [...after, jq.id], given);
  return [
    jq,
    key,
    ...remoteTasks({ dir, want, appsHosts: apps.map((h) => h.name), after: [...after, key.id] }),
  ];
}

/**
 * What an apps host's run converges on the control host (commands/converge.ts): the Dokploy
 * registrations once Dokploy has run, the backup pull's host keys, list and copies once the pull
 * key exists, and the WAL receivers of the apps that host just made ready (roles/pitr.ts).
 * Nothing else of the control host's plan depends on an apps host.
 */
export function followUpTasks(inv: Inventory): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  const learned = control ? readLearned(inv.stateDir)[control.name] : undefined;
  if (!control || !learned) return [];
  return [
    ...(learned.dokployPublicKey ? dokployRemoteTasks(inv, []) : []),
    ...(learned.backupPullKey ? controlBackupTasks(inv, control, []) : []),
    ...pitrRoleTasks(inv, control.name, []),
  ];
}

/**
 * Alloy on every host, shipping to the control host's Loki over the tailnet. The control host
 * uses its own tailnet address (probed); the others the one `infra` learned when it bootstrapped
 * the control host (.infra/hosts.json). Before that, the plan says what to run first.
 */
export function alloyTasks(inv: Inventory, host: Host, pre: string[]): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control) return [];
  const after = host.role === 'control' ? [...pre, `stack:${OBSERVABILITY}`] : pre;
  let target: LokiTarget = { kind: 'local' };
  if (control.name !== host.name) {
    const address = readLearned(inv.stateDir)[control.name]?.tailnetAddress;
    if (!address) return [lokiUnknownTask(host.name, control.name, after)];
    target = { kind: 'address', address };
  }
  return stackTasks(alloyStack(host.name, target), alloyHealth, [], after);
}

/** The role stacks of one host: the control server's, and Alloy everywhere. */
export function stackRoleTasks(inv: Inventory, hostName: string, others: readonly AnyTask[]): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (!host) return [];
  const pre = others.map((t) => t.id).filter((id) => PREREQUISITE.test(id));
  return [...(host.role === 'control' ? controlTasks(inv, host, pre) : []), ...alloyTasks(inv, host, pre)];
}
