import { factsOf, type HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import { DEFAULT_WAL_CAP } from '../inventory/schema.js';
import type { Host, Inventory } from '../inventory/types.js';
import { fileTask } from '../tasks/file.js';
import {
  BASE_SCRIPT,
  BASE_SCRIPT_PATH,
  BASE_UNIT,
  baseServiceUnit,
  baseTimerUnit,
  envFile,
  PITR_ETC,
  type PitrTarget,
  pitrBaseBackupTask,
  pitrSecretsTask,
  readyTask,
  receiverTask,
  WAL_START_PATH,
  WAL_UNIT,
  walServiceUnit,
} from '../tasks/pitr.js';
import { GAP_SCRIPT, gapTask } from '../tasks/pitr-gap.js';
import { pitrLeftoverTask, pitrOffTask } from '../tasks/pitr-off.js';
import { pitrSourcesTask } from '../tasks/pitr-source.js';
import { pgPort } from '../tasks/postgres-app.js';
import { serviceTask } from '../tasks/service.js';
import { type Foundation, idsOf } from './foundation.js';

/**
 * Point-in-time recovery (issue 18, docs/apps.md "Point-in-time recovery"). The control host
 * makes each app's replication secret first (its verifier is learned); the apps host then sets up
 * the role and pg_hba (and learns which apps are ready, with the verifier each role has); its run
 * ends on the control host (roles/control.ts followUpTasks), which starts a receiver for each ready
 * app and takes a base backup once its WAL arrives. Until then neither side waits or fails: an app
 * is simply not streamed yet, as with the off-host copies.
 */

/**
 * Pure: the apps the control host streams: on the tailnet and ready on their apps host, which
 * learned the verifier its role has (`pitrSources`; a list, as infra wrote it before, knows no
 * verifier: that host's next run learns it).
 */
export function pitrTargets(inv: Inventory, given?: HostFacts): PitrTarget[] {
  const facts = factsOf(inv.stateDir, given);
  const out: PitrTarget[] = [];
  for (const a of inv.apps.filter((x) => x.pitr)) {
    const host = facts.of(a.host);
    const sources = Array.isArray(host?.pitrSources) ? {} : (host?.pitrSources ?? {});
    const sourceVerifier = sources[a.name];
    if (!host?.tailnetAddress || !sourceVerifier) continue;
    const port = pgPort(
      a.name,
      inv.apps.filter((x) => x.host === a.host).map((x) => x.name),
    );
    out.push({
      app: a.name,
      host: a.host,
      sourceVerifier,
      address: host.tailnetAddress,
      port,
      major: a.postgres,
      keepDays: a.controlRetentionDays,
    });
  }
  return out.sort((x, y) => x.app.localeCompare(y.app));
}

function controlTasks(inv: Inventory, f: Foundation, facts: HostFacts, only?: string): AnyTask[] {
  const apps = inv.apps.filter((a) => a.pitr);
  // PITR turned off (or the app gone): its receiver and timer stopped, its files removed; the
  // archive stays (tasks/pitr-off.ts). Not in a restore's run, which is about one app alone.
  const leftover = only ? [] : [pitrLeftoverTask(apps.map((a) => a.name))];
  if (apps.length === 0) return leftover;
  const pre = idsOf(f.tailscale, f.docker);
  // The secret and the unit files need nothing else; only the receivers need Docker and the tailnet.
  const secrets = pitrSecretsTask(apps.map((a) => a.name).sort(), []);
  const reload = 'systemctl daemon-reload';
  const units = [
    { path: `/etc/systemd/system/${WAL_UNIT}@.service`, content: walServiceUnit },
    { path: `/etc/systemd/system/${BASE_UNIT}@.service`, content: baseServiceUnit },
    { path: `/etc/systemd/system/${BASE_UNIT}@.timer`, content: baseTimerUnit },
  ].map((u) => fileTask({ ...u, mode: '644', onChange: reload }, []));
  const script = fileTask({ path: BASE_SCRIPT_PATH, content: BASE_SCRIPT, mode: '755' }, []);
  const start = fileTask({ path: WAL_START_PATH, content: GAP_SCRIPT, mode: '755' }, []);
  const shared = [...pre, secrets.id, script.id, start.id, ...units.map((u) => u.id)];
  const targets = pitrTargets(inv, facts).filter((t) => !only || t.app === only);
  const perApp = targets.flatMap((t) => {
    const ready = readyTask(t, [secrets.id]);
    // A changed env file restarts the receiver: it reads the address and port at start only.
    const env = fileTask(
      {
        path: `${PITR_ETC}/${t.app}.env`,
        content: envFile(t),
        mode: '600',
        onChange: `systemctl try-restart ${WAL_UNIT}@${t.app}.service`,
      },
      [...shared, ready.id],
    );
    // A gap is recovered before the receiver's own task, which would only fail to start it.
    const gap = gapTask(t.app, [...shared, env.id]);
    const wal = receiverTask(t.app, [...shared, env.id, gap.id]);
    const timer = serviceTask(`${BASE_UNIT}@${t.app}.timer`, [...shared, env.id]);
    return [ready, env, gap, wal, timer, pitrBaseBackupTask(t.app, [wal.id])];
  });
  return [secrets, script, start, ...units, ...perApp, ...leftover];
}

function appsTasks(
  inv: Inventory,
  host: Host,
  appStacks: readonly AnyTask[],
  facts: HostFacts,
  appPg: readonly string[],
  only?: string,
): AnyTask[] {
  const control = inv.hosts.find((h) => h.role === 'control');
  if (!control) return [];
  // An app here with PITR off: its slot and role, dropped once the control host stopped streaming.
  const off = only
    ? []
    : inv.apps
        .filter((a) => !a.pitr && a.host === host.name)
        .map((a) => pitrOffTask(a.name, control.name, idsOf(...appStacks)));
  const known = facts.of(control.name);
  const address = known?.tailnetAddress;
  const verifiers = known?.pitrVerifiers ?? {};
  const apps = inv.apps
    .filter((a) => a.pitr && a.host === host.name && verifiers[a.name])
    .map((a) => ({ app: a.name, verifier: verifiers[a.name]!, cap: a.pitrWalCap ?? DEFAULT_WAL_CAP }));
  if (!address) return off;
  // No app streams from here (PITR turned off): the task with no app learns an empty list, so the
  // control host stops counting on the pg_hba lines this host's block no longer has.
  return [
    pitrSourcesTask({ apps, controlHost: control.name, control: address }, [
      ...idsOf(...appStacks),
      ...appPg,
    ]),
    ...off,
  ];
}

/**
 * Both roles' part in point-in-time recovery. The control host's receivers wait for Docker and
 * Tailscale (`f`); an apps host's sources for its apps' PostgreSQL stacks (`appStacks`) and the
 * tasks that write pg_hba and the slot cap for them (`appPg`, roles/app-pg.ts).
 * `only`: the control host's receiver of that app alone (a restore must not wait on, or fail
 * for, other apps of a host that is down).
 */
export function pitrRoleTasks(
  inv: Inventory,
  hostName: string,
  f: Foundation,
  o: { appStacks?: readonly AnyTask[]; only?: string; facts?: HostFacts; appPg?: readonly string[] } = {},
): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  const facts = factsOf(inv.stateDir, o.facts);
  if (host?.role === 'control') return controlTasks(inv, f, facts, o.only);
  if (host?.role === 'apps') return appsTasks(inv, host, o.appStacks ?? [], facts, o.appPg ?? [], o.only);
  return [];
}
