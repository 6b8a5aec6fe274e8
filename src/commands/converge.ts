import { hostname, userInfo } from 'node:os';
import { connectHost } from '../engine/connect.js';
import { type HostResult, hostStatusOf, type Mode } from '../engine/events.js';
import { HostFacts } from '../engine/facts.js';
import { reconnectGuard } from '../engine/guard.js';
import { publicSshCheck } from '../engine/outside.js';
import { type Connected, runFleet } from '../engine/run.js';
import type { AnyTask } from '../engine/task.js';
import { InfraError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import type { Inventory } from '../inventory/types.js';
import { HumanReporter } from '../report/human.js';
import { exitCodeFor, jsonReport } from '../report/json.js';
import { Output } from '../report/output.js';
import { trace } from '../trace.js';
import { findHost, type GlobalOptions, inventoryPath, redactorFor, selectHosts } from './shared.js';

export interface ConvergeOptions {
  json?: boolean;
  verbose?: boolean;
  /** Seconds before a guarded change (firewall, sshd, Tailscale SSH) rolls itself back. */
  guardTimeout?: string;
  /** SSH handshakes at once (--parallel); default PARALLEL_HANDSHAKES. */
  parallel?: string;
  /** The operator's consent to restart an app's PostgreSQL (wal_level: roles/app-pg.ts). */
  allowRestart?: boolean;
}

/** `--parallel N`: a positive whole number, or one clear line. */
export function parallelOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InfraError(
      `--parallel: expected a positive whole number of SSH handshakes at once, got ${value}`,
    );
  return n;
}

/** Commands that converge part of a host (add-app: one app's tasks) narrow the plan. */
export interface ConvergeScope {
  plan?: (inv: Inventory, host: string, facts: HostFacts) => AnyTask[];
  /** Default: apply needs every secret; a plan without secret-using tasks does not. */
  requireSecrets?: boolean;
  /** A narrowed plan that changes what the control host serves (add-app): end on it as a whole run does. */
  followUp?: boolean;
  /**
   * Run over this open connection instead of opening one (upgrade-pg: one session for the whole
   * verb); it stays open for its owner. Only for a run on that one host.
   */
  over?: Connected;
}

/** A connection lent to a run: everything goes through, but closing it is its owner's business. */
function lent(c: Connected): Connected {
  const t = c.transport;
  return {
    ...c,
    transport: {
      label: t.label,
      get stats() {
        return t.stats;
      },
      exec: (script, opts) => t.exec(script, opts),
      hold: (script) => t.hold(script),
      close: async () => {},
    },
  };
}

/** apply, apply --dry-run and check: the same probes, differing only in whether they change anything. */
export async function converge(
  mode: Mode,
  g: GlobalOptions,
  hostNames: string[],
  o: ConvergeOptions,
  scope: ConvergeScope = {},
): Promise<number> {
  trace('command');
  const inv = loadInventory(inventoryPath(g), {
    requireSecrets: scope.requireSecrets ?? mode === 'apply',
    lab: g.lab,
  });
  trace('inventory');
  // What infra learned, once for the whole run: planning, connections, the guard and the
  // public-SSH check read it; a task that learns something updates it here, and it is saved.
  const facts = HostFacts.load(inv.stateDir);
  const hosts = selectHosts(inv, hostNames);
  const parallel = parallelOf(o.parallel);
  const ssh = import('../transport/ssh.js');
  const out = new Output(redactorFor(inv));
  // The Cloudflare side (remotely managed tunnels): its reads start now, beside the handshakes.
  const cloudflare = inv.hosts.some((h) => h.tunnel?.kind === 'api')
    ? import('../cloudflare/session.js').then((m) => new m.CloudflareSession(inv, (s) => out.redactor.add(s)))
    : undefined;
  const human = new HumanReporter(out, mode, o.verbose);
  /** Warnings of the hosts as probed (tasks' `warnings`), beside the inventory's. */
  const probed: Record<string, string[]> = {};
  // check reads only the hosts named: `infra check` (every host) reports the registrations.
  const followUp =
    (scope.plan && !scope.followUp) || mode === 'check' ? undefined : controlFollowUp(inv, hosts, facts);
  const keyless = scope.plan || mode !== 'apply' ? [] : appsSetUpOutside(inv, hosts, facts);
  human.hosts([...hosts, ...(followUp ? [followUp] : []), ...keyless]);
  const fleet = (
    list: string[],
    plan: (inv: Inventory, host: string, facts: HostFacts) => AnyTask[] | Promise<AnyTask[]>,
  ) =>
    runFleet({
      hosts: list,
      mode,
      // The roles and their ~50 task modules load once the handshakes are under way.
      plan: async (h) => {
        await ssh;
        const cf = await cloudflare;
        // A refused API token fails the host here, before any task of it ran.
        await cf?.prepare(hostOf(inv, h), mode);
        return plan(inv, h, facts);
      },
      beyond: async (h, results) =>
        scope.plan ? [] : ((await cloudflare)?.finish(hostOf(inv, h), mode, results) ?? []),
      connect: async (h) => (scope.over ? lent(scope.over) : connectHost(inv, hostOf(inv, h), { facts })),
      guard: (h) => reconnectGuard(inv, hostOf(inv, h), Number(o.guardTimeout ?? 60), facts),
      outside: (h) => publicSshCheck(inv, hostOf(inv, h), facts),
      lockOwner: `${userInfo().username}@${hostname()} pid ${process.pid} since ${new Date().toISOString()} (infra ${mode})`,
      emit: (e) => {
        if (e.type === 'facts') {
          facts.learn(e.host, e.facts);
          facts.save(e.host);
        }
        if (e.type === 'warning') probed[e.host] = [...(probed[e.host] ?? []), e.message];
        if (!o.json) human.handle(e);
      },
      redactor: out.redactor,
      parallel,
    });
  const results = await fleet(hosts, async (i, h, f) =>
    scope.plan
      ? scope.plan(i, h, f)
      : (await import('../roles/index.js')).planHost(i, h, f, { allowRestart: !!o.allowRestart }),
  );
  // An apps host's run ends on the control host: its registration in Dokploy (docs/stacks.md) and
  // its apps in the nightly pull (docs/apps.md), so `check` after it finds both hosts in sync.
  if (followUp) {
    const { followUpTasks } = await import('../roles/control.js');
    results.push(...(await fleet([followUp], (i, _h, f) => followUpTasks(i, f))));
  }
  await keylessFollowUp(inv, results, keyless, fleet);
  // Whole-role runs only (add-app narrows the plan to one app): findings that are not drift.
  const warnings: Record<string, string[]> = {};
  if (!scope.plan) {
    const { hostWarnings } = await import('../roles/control.js');
    for (const h of hosts) warnings[h] = hostWarnings(inv, h);
  }
  for (const [h, list] of Object.entries(probed)) warnings[h] = [...(warnings[h] ?? []), ...list];
  if (o.json) out.line(JSON.stringify(jsonReport(mode, results, warnings), null, 2));
  else {
    for (const [host, list] of Object.entries(warnings))
      for (const message of list) human.handle({ type: 'note', host, message });
    human.recap(results);
  }
  trace('reported');
  return exitCodeFor(mode, results);
}

/**
 * Pure on the inventory and what infra learned: the control host, when the run covers an apps
 * host but not it, and the control host has run Dokploy or its backup pull (their keys are
 * known). The apps host's tailnet address, learned in the first part of the run, is read when
 * the follow-up plans.
 */
export function controlFollowUp(
  inv: Inventory,
  hosts: readonly string[],
  facts = HostFacts.load(inv.stateDir),
): string | undefined {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control || hosts.includes(control.name)) return undefined;
  if (!inv.hosts.some((h) => h.role === 'apps' && hosts.includes(h.name))) return undefined;
  const learned = facts.of(control.name);
  return learned?.dokployPublicKey || learned?.backupPullKey ? control.name : undefined;
}

/**
 * Pure on the inventory and what infra learned: when the run covers the control host, the apps
 * hosts outside it that were set up before (they have a tailnet address). Their deploy user may
 * still lack the Dokploy key this run creates.
 */
export function appsSetUpOutside(
  inv: Inventory,
  hosts: readonly string[],
  facts = HostFacts.load(inv.stateDir),
): string[] {
  if (!inv.hosts.some((h) => h.role === 'control' && hosts.includes(h.name))) return [];
  return inv.hosts
    .filter((h) => h.role === 'apps' && !hosts.includes(h.name) && facts.of(h.name)?.tailnetAddress)
    .map((h) => h.name);
}

type Fleet = (
  list: string[],
  plan: (inv: Inventory, host: string, facts: HostFacts) => AnyTask[],
) => Promise<HostResult[]>;

/**
 * The other order (apps hosts first, then the control host): Dokploy's login check waits for
 * apps hosts whose deploy user does not have the key this run made. Their deploy user gets it,
 * then the check runs again and its result replaces the waiting one. An apps host that does not
 * answer keeps the wait as it was: `infra apply HOST` later (docs/stacks.md).
 */
async function keylessFollowUp(inv: Inventory, results: HostResult[], keyless: string[], fleet: Fleet) {
  const at = results.findIndex((r) => inv.hosts.some((h) => h.name === r.host && h.role === 'control'));
  const waits = results[at]?.tasks.some((t) => t.task === 'stack:dokploy:reach' && t.status === 'waiting');
  if (!keyless.length || !waits) return;
  const { dokployDeployUserTasks } = await import('../roles/apps.js');
  const given = (await fleet(keyless, (i, _h, f) => dokployDeployUserTasks(i, f))).filter(
    (r) => r.status !== 'unreachable',
  );
  if (!given.length) return;
  results.push(...given);
  const { dokployRemoteTasks } = await import('../roles/control.js');
  const [again] = await fleet([results[at]!.host], (i, _h, f) => dokployRemoteTasks(i, [], f));
  if (again && again.status !== 'unreachable') results[at] = mergeRerun(results[at]!, again);
}

/** Pure: a host's result with the tasks run again replaced by their new results. */
export function mergeRerun(first: HostResult, again: HostResult): HostResult {
  const redone = new Map(again.tasks.map((t) => [t.task, t]));
  const tasks = first.tasks.map((t) => redone.get(t.task) ?? t);
  return {
    ...first,
    tasks,
    status: hostStatusOf(tasks),
    durationMs: first.durationMs + again.durationMs,
    stats: {
      connections: first.stats.connections + again.stats.connections,
      execs: first.stats.execs + again.stats.execs,
    },
  };
}

const hostOf = findHost;
