import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import type { Host, Inventory } from '../inventory/types.js';
import { alloyHealth, alloyStack, type LokiTarget, lokiUnknownTask } from '../tasks/alloy.js';
import { type ComposeStack, composeStackTask } from '../tasks/compose-stack.js';
import { DEPLOY_USER } from '../tasks/deploy-user.js';
import { DOKPLOY, dokploySecrets, dokploySwarmTask } from '../tasks/dokploy.js';
import { API_KEY_FILE, dokployApiKeyTask } from '../tasks/dokploy-api.js';
import { remoteTasks } from '../tasks/dokploy-remote.js';
import type { DesiredServer } from '../tasks/dokploy-remote-state.js';
import { dokployTask } from '../tasks/dokploy-task.js';
import { GLITCHTIP, glitchtipHealth, glitchtipSecrets, glitchtipStack } from '../tasks/glitchtip.js';
import { glitchtipAdminTask } from '../tasks/glitchtip-admin.js';
import { glitchtipMailTask, glitchtipWarnings } from '../tasks/glitchtip-mail.js';
import { hostSecretsTask, type SecretFile } from '../tasks/host-secrets.js';
import { ADMIN_TASK as METABASE_ADMIN_TASK } from '../tasks/metabase-admin.js';
import {
  OBSERVABILITY,
  observabilityHealth,
  observabilitySecrets,
  observabilityStack,
} from '../tasks/observability.js';
import { packagesTask } from '../tasks/packages.js';
import { type HealthCheck, stackHealthTask } from '../tasks/stack-health.js';
import { stackDir } from '../tasks/stacks.js';
import { analyticsSecretFiles, analyticsTasks } from './analytics.js';
import { metabaseFollowUp } from './analytics-metabase.js';
import { replicationModeTasks } from './analytics-replication.js';
import { controlBackupTasks } from './backups.js';
import { type Foundation, idsOf } from './foundation.js';
import { pitrRoleTasks } from './pitr.js';

/** The stacks that keep generated secrets on a host, for `infra secrets show HOST STACK`. */
export function stackSecrets(
  inv: Inventory,
  hostName: string,
): Record<string, { dir: string; files: string[] }> {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (host?.role !== 'control') return analyticsSecretFiles(inv, hostName);
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
    ...analyticsSecretFiles(inv, hostName),
  };
}

/** One stack: its secrets (if any), then the compose file and containers, then its health. */
function stackTasks(
  stack: ComposeStack,
  health: HealthCheck[],
  secrets: SecretFile[],
  pre: string[],
): { tasks: AnyTask[]; compose: AnyTask } {
  const tasks: AnyTask[] = [];
  const deps = [...pre];
  if (secrets.length) {
    const s = hostSecretsTask({ stack: stack.project, dir: stack.dir, files: secrets }, pre);
    tasks.push(s);
    deps.push(s.id);
  }
  const compose = composeStackTask(stack, deps);
  const healthy = stackHealthTask({ project: stack.project, checks: health, waitSec: stack.waitSec }, [
    compose.id,
  ]);
  return { tasks: [...tasks, compose, healthy], compose };
}

/**
 * GlitchTip: secrets, its mail .env, the stack, its health, then its superuser — which the
 * tunnel's routes wait for (gateTunnelRoutes), so GlitchTip is never public without an owner.
 */
function glitchtipTasks(inv: Inventory, host: Host, pre: string[]): AnyTask[] {
  const gt = inv.glitchtip;
  const stack = glitchtipStack(host.tunnel?.routes ?? [], gt);
  const secrets = hostSecretsTask({ stack: GLITCHTIP, dir: stack.dir, files: glitchtipSecrets }, pre);
  const mail = glitchtipMailTask(gt, [...pre, secrets.id]);
  const compose = composeStackTask(stack, [...pre, secrets.id, mail.id]);
  const health = stackHealthTask({ project: GLITCHTIP, checks: glitchtipHealth, waitSec: stack.waitSec }, [
    compose.id,
  ]);
  const admin = gt ? [glitchtipAdminTask({ email: gt.adminEmail, host: host.name }, [health.id])] : [];
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
 * (GlitchTip's superuser; Dokploy's task signs its owner up before it publishes port 3000;
 * Metabase's admin through /api/setup, on the analytics host: tasks/metabase-admin.ts).
 */
export const ROUTE_GATES = [`stack:${GLITCHTIP}:superuser`, `stack:${DOKPLOY}`, METABASE_ADMIN_TASK];
const TUNNEL_ROUTES = 'file:/etc/cloudflared/config.yml';

/** Pure: the tunnel's ingress rules wait for every administrator task in the plan. */
export function gateTunnelRoutes(tasks: AnyTask[]): AnyTask[] {
  const gates = ROUTE_GATES.filter((id) => tasks.some((t) => t.id === id));
  if (!gates.length) return tasks;
  return tasks.map((t) => (t.id === TUNNEL_ROUTES ? { ...t, after: [...(t.after ?? []), ...gates] } : t));
}

/**
 * The control server's stacks: Loki + Grafana, GlitchTip, Dokploy (docs/stacks.md); and Loki's
 * stack, which the control host's own Alloy ships to.
 */
function controlTasks(
  inv: Inventory,
  host: Host,
  pre: string[],
  facts?: HostFacts,
): { tasks: AnyTask[]; loki: AnyTask } {
  const observability = stackTasks(
    observabilityStack(inv.observability.retentionDays),
    observabilityHealth,
    observabilitySecrets,
    pre,
  );
  return {
    tasks: [
      ...observability.tasks,
      ...glitchtipTasks(inv, host, pre),
      ...dokployTasks(inv, host, pre, facts),
    ],
    loki: observability.compose,
  };
}

/** Dokploy as its installer makes it: host secret files, the swarm, then services, owner, Traefik. */
function dokployTasks(inv: Inventory, host: Host, pre: string[], facts?: HostFacts): AnyTask[] {
  const dir = stackDir(DOKPLOY);
  const secrets = hostSecretsTask({ stack: DOKPLOY, dir, files: dokploySecrets }, pre);
  const swarm = dokploySwarmTask(pre);
  const dokploy = dokployTask({ dir, email: inv.dokploy.ownerEmail, publicPorts: host.publicPorts }, [
    ...pre,
    secrets.id,
    swarm.id,
  ]);
  return [secrets, swarm, dokploy, ...dokployRemoteTasks(inv, [dokploy.id], facts)];
}

/**
 * The apps hosts in Dokploy: infra's API key, Dokploy's SSH key, one server per apps host that
 * has joined the tailnet (its address learned when it was bootstrapped), the orphans, the login
 * check. Also what an apps host's run converges on the control host (followUpPlan).
 */
export function dokployRemoteTasks(inv: Inventory, after: string[], known?: HostFacts): AnyTask[] {
  const dir = stackDir(DOKPLOY);
  const facts = factsOf(inv.stateDir, known);
  const apps = inv.hosts.filter((h) => h.role === 'apps');
  const want: DesiredServer[] = apps.flatMap((h) => {
    const ip = facts.of(h.name)?.tailnetAddress;
    return ip ? [{ name: h.name, ipAddress: ip, port: h.ssh.port, username: DEPLOY_USER }] : [];
  });
  // jq reads Dokploy's answers for the API tasks: it belongs to Dokploy's stack, and is named so.
  const jq = { ...packagesTask({ set: 'jq', names: ['jq'] }, after), id: `stack:${DOKPLOY}:jq` };
  const { apiKeyRef, apiKey } = inv.dokploy;
  const given = apiKeyRef ? { ref: apiKeyRef, value: apiKey } : undefined;
  const key = dokployApiKeyTask(
    { dir, ownerEmail: inv.dokploy.ownerEmail, ownerFile: 'dokploy_owner_password', given },
    [...after, jq.id],
  );
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
export function followUpTasks(inv: Inventory, given?: HostFacts): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  const facts = factsOf(inv.stateDir, given);
  const learned = control ? facts.of(control.name) : undefined;
  if (!control || !learned) return [];
  return [
    ...(learned.dokployPublicKey ? dokployRemoteTasks(inv, [], facts) : []),
    ...(learned.backupPullKey ? controlBackupTasks(inv, control, {}, facts) : []),
    ...pitrRoleTasks(inv, control.name, {}, { facts }),
    // The subscriptions of the apps that host just published (roles/analytics-replication.ts).
    ...(inv.analytics?.host === control.name && inv.analytics.mode === 'replication'
      ? replicationModeTasks(inv, inv.analytics, [], facts)
      : []),
    // direct: Metabase's sources for the read-only roles that host just made.
    ...(inv.analytics?.host === control.name ? metabaseFollowUp(inv, facts) : []),
  ];
}

/**
 * Alloy on every host, shipping to the control host's Loki over the tailnet. The control host
 * uses its own tailnet address (probed); the others the one `infra` learned when it bootstrapped
 * the control host (.infra/hosts.json). Before that, the plan says what to run first.
 */
export function alloyTasks(
  inv: Inventory,
  host: Host,
  pre: string[],
  loki?: AnyTask,
  facts?: HostFacts,
): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control) return [];
  const after = [...pre, ...idsOf(loki)];
  let target: LokiTarget = { kind: 'local' };
  if (control.name !== host.name) {
    const address = factsOf(inv.stateDir, facts).of(control.name)?.tailnetAddress;
    if (!address) return [lokiUnknownTask({ host: host.name, control: control.name }, after)];
    target = { kind: 'address', address };
  }
  return stackTasks(alloyStack(host.name, target), alloyHealth, [], after).tasks;
}

/** The role stacks of one host: the control server's, and Alloy everywhere. */
export function stackRoleTasks(
  inv: Inventory,
  hostName: string,
  f: Foundation,
  facts?: HostFacts,
): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (!host) return [];
  // Tailscale up, then Docker's packages and engine, when the plan has them.
  const pre = idsOf(f.tailscale, f.dockerPackages, f.docker);
  // On the control host, Alloy waits for Loki's stack beside it.
  const control = host.role === 'control' ? controlTasks(inv, host, pre, facts) : undefined;
  return [
    ...(control?.tasks ?? []),
    ...alloyTasks(inv, host, pre, control?.loki, facts),
    ...analyticsTasks(inv, host, pre, facts),
  ];
}
