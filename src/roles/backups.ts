import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask, Task } from '../engine/task.js';
import type { Host, Inventory } from '../inventory/types.js';
import { shq } from '../quote.js';
import { backupCopiesTask, backupPullKeyTask } from '../tasks/backup-copies.js';
import {
  backupDrillTask,
  DRILL_SCRIPT,
  DRILL_SCRIPT_PATH,
  DRILL_UNIT,
  drillServiceUnit,
  drillTimerUnit,
} from '../tasks/backup-drill.js';
import {
  OFFSITE_DIR,
  OFFSITE_SCRIPT,
  OFFSITE_SCRIPT_PATH,
  OFFSITE_UNIT,
  offsiteEnv,
  offsitePaths,
  offsiteServiceUnit,
  offsiteTask,
  offsiteTimerUnit,
} from '../tasks/backup-offsite.js';
import {
  PULL_CONF,
  PULL_KNOWN_HOSTS,
  PULL_SCRIPT,
  PULL_SCRIPT_PATH,
  PULL_UNIT,
  type PullTarget,
  pullConf,
  pullServiceUnit,
  pullTimerUnit,
} from '../tasks/backup-pull.js';
import { backupServeTasks } from '../tasks/backup-serve.js';
import { fileTask } from '../tasks/file.js';
import { packagesTask } from '../tasks/packages.js';
import { serviceTask } from '../tasks/service.js';
import { hostPattern, readKnownHosts } from '../transport/known-hosts.js';
import { type Foundation, idsOf } from './foundation.js';

/** Pure: where the control host reaches each app (its host's learned tailnet address). */
export function pullTargets(inv: Inventory, given?: HostFacts): { targets: PullTarget[]; unknown: string[] } {
  const facts = factsOf(inv.stateDir, given);
  const targets: PullTarget[] = [];
  const unknown = new Set<string>();
  for (const a of inv.apps) {
    const host = inv.hosts.find((h) => h.name === a.host);
    const address = host && facts.of(host.name)?.tailnetAddress;
    if (!host || !address) {
      unknown.add(a.host);
      continue;
    }
    targets.push({
      app: a.name,
      address,
      port: host.ssh.port,
      keepDays: a.controlRetentionDays,
      major: a.postgres,
    });
  }
  return { targets: targets.sort((x, y) => x.app.localeCompare(y.app)), unknown: [...unknown].sort() };
}

/**
 * Pure: the apps hosts' keys as infra pinned them (known_hosts beside the inventory), named by
 * the tailnet address the control host dials — so its pull checks the same key infra checks.
 */
export function pulledHostKeys(inv: Inventory, targets: readonly PullTarget[]): string {
  const entries = readKnownHosts(inv.knownHostsFile);
  const lines = new Set<string>();
  for (const t of targets) {
    const host = inv.hosts.find((h) => inv.apps.some((a) => a.name === t.app && a.host === h.name))!;
    const names = [
      host.name,
      host.address,
      t.address,
      hostPattern(t.address, t.port),
      hostPattern(host.address, t.port),
    ];
    for (const e of entries.filter((x) => x.patterns.some((p) => names.includes(p))))
      lines.add(`${hostPattern(t.address, t.port)} ${e.type} ${e.key}`);
  }
  return `# Installed by infra: the apps hosts' keys as infra pinned them.\n${[...lines].sort().join('\n')}${lines.size ? '\n' : ''}`;
}

/** A plan entry that cannot converge yet: an apps host's tailnet address, or the control key, is unknown. */
function waitingTask(id: string, why: string, on: string): Task<null> {
  return {
    id,
    probe: 'true',
    parse: () => null,
    diff: () => [{ summary: why, kind: 'dependency-missing', actual: null }],
    apply: () => [{ script: `echo ${shq(why)} >&2; exit 1` }],
    wait: () => ({ on, run: `infra bootstrap ${on}` }),
  };
}

/** A oneshot service, its timer, and the timer enabled and running. */
export function unitTasks(unit: string, service: string, timer: string, pre: string[]): AnyTask[] {
  const reload = 'systemctl daemon-reload';
  const files = [service, timer].map((content, i) =>
    fileTask(
      {
        path: `/etc/systemd/system/${unit}.${i ? 'timer' : 'service'}`,
        content,
        mode: '644',
        onChange: reload,
      },
      pre,
    ),
  );
  return [
    ...files,
    serviceTask(
      `${unit}.timer`,
      files.map((f) => f.id),
    ),
  ];
}

/**
 * The control host: its key, the apps hosts' pinned keys, the list, the pull and drill scripts
 * with their timers, and per app the state of its copies and of its last drill.
 */
export function controlBackupTasks(inv: Inventory, host: Host, f: Foundation, facts?: HostFacts): AnyTask[] {
  // Tailscale up first, when the plan has it: the pulls go over the tailnet.
  const pre = idsOf(f.tailscale);
  const key = backupPullKeyTask(host.name, pre);
  // An apps host not on the tailnet yet is left out (not a wait: the control host is bootstrapped
  // first); once it is, its own run ends here and adds its apps (roles/control.ts followUpTasks).
  const { targets } = pullTargets(inv, facts);
  const files = [
    fileTask({ path: PULL_SCRIPT_PATH, content: PULL_SCRIPT, mode: '755' }, pre),
    fileTask({ path: DRILL_SCRIPT_PATH, content: DRILL_SCRIPT, mode: '755' }, pre),
    fileTask({ path: PULL_KNOWN_HOSTS, content: pulledHostKeys(inv, targets), mode: '644' }, [key.id]),
    fileTask({ path: PULL_CONF, content: pullConf(targets), mode: '644' }, [key.id]),
  ];
  const ids = [key.id, ...files.map((f) => f.id)];
  const copies = targets.map((t) => backupCopiesTask({ target: t, host: host.name }, ids));
  return [
    key,
    ...files,
    ...unitTasks(PULL_UNIT, pullServiceUnit, pullTimerUnit, pre),
    ...unitTasks(DRILL_UNIT, drillServiceUnit, drillTimerUnit, pre),
    ...copies,
    ...targets.map((t, i) => backupDrillTask(t, [...ids, copies[i]!.id])),
    ...offsiteTasks(inv, pre, idsOf(...copies)),
  ];
}

/** `backups.offsite`: restic, its config (secrets in 0600 files), the nightly copy, its state. */
function offsiteTasks(inv: Inventory, pre: string[], copies: string[]): AnyTask[] {
  const o = inv.offsite;
  if (!o) return [];
  const pkg = packagesTask({ set: 'restic', names: ['restic'] }, pre);
  const secret = { mode: '600', sensitive: true };
  const files = [
    fileTask({ path: OFFSITE_SCRIPT_PATH, content: OFFSITE_SCRIPT, mode: '755' }, pre),
    fileTask({ path: `${OFFSITE_DIR}/paths`, content: offsitePaths(), mode: '644' }, pre),
    fileTask({ path: `${OFFSITE_DIR}/env`, content: offsiteEnv(o), ...secret }, pre),
    fileTask({ path: `${OFFSITE_DIR}/password`, content: `${o.password?.reveal() ?? ''}\n`, ...secret }, pre),
  ];
  return [
    pkg,
    ...files,
    ...unitTasks(OFFSITE_UNIT, offsiteServiceUnit, offsiteTimerUnit, pre),
    offsiteTask(o, [pkg.id, ...files.map((f) => f.id), ...copies]),
  ];
}

/** An apps host: the read-only pull user, once the control host's key is known. */
export function appsBackupTasks(inv: Inventory, host: Host, f: Foundation, facts?: HostFacts): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control) return [];
  const pre = idsOf(f.tailscale);
  const key = factsOf(inv.stateDir, facts).of(control.name)?.backupPullKey;
  if (!key)
    return [
      waitingTask(
        'backup-serve',
        `let ${control.name} copy ${host.name}'s backups: ${control.name}'s pull key is not known yet`,
        control.name,
      ),
    ];
  return backupServeTasks(key, pre);
}

/** Both roles' part in the off-host copies. */
export function backupRoleTasks(
  inv: Inventory,
  hostName: string,
  f: Foundation,
  facts?: HostFacts,
): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (host?.role === 'control') return controlBackupTasks(inv, host, f, facts);
  if (host?.role === 'apps') return appsBackupTasks(inv, host, f, facts);
  return [];
}
