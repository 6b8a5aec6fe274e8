import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { HostFacts } from '../engine/facts.js';
import { InfraError } from '../errors.js';
import { writeFileAtomic } from '../inventory/edit.js';
import { defaultInventoryPath } from '../inventory/load.js';
import { shCmd, shq } from '../quote.js';
import { Output } from '../report/output.js';
import { appPgTasks } from '../roles/app-pg.js';
import { singleAppPlan } from '../roles/apps.js';
import { pitrRoleTasks } from '../roles/pitr.js';
import { copiesDir } from '../tasks/backup-pull.js';
import { runBaseBackup } from '../tasks/pitr.js';
import {
  bundleScript,
  chooseBase,
  listBasesScript,
  parseAt,
  parseBases,
  prepareScript,
  recoverScript,
  revertScript,
  rotateScript,
  stageScript,
} from '../tasks/pitr-restore.js';
import { passwordFile, psqlBatchArgv, stopStackScript, volumeName } from '../tasks/postgres-app.js';
import { confirm, findApp, loadApps, withApp } from './app-host.js';
import { withControl } from './control-copies.js';
import { converge } from './converge.js';
import { restorePassword } from './restore-copy.js';
import { type GlobalOptions, redactorFor } from './shared.js';

const stampNow = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/**
 * `infra restore NAME --at TIME|latest [--to HOST]`: a base backup and the WAL the control host
 * streamed, replayed to that moment on the app's host (or another apps host, which the inventory
 * then names). The current volume is copied aside first (`--prune` removes it, as upgrade-pg's).
 * Afterwards the control host sets the old archive aside (still restorable by time) and streams
 * the restored server anew, with a fresh base backup. docs/apps.md "Point-in-time recovery".
 */
export async function restoreAt(
  g: GlobalOptions,
  name: string,
  o: { at: string; to?: string; yes?: boolean },
): Promise<number> {
  const at = parseAt(o.at);
  const inv = loadApps(g);
  const app = findApp(inv, name);
  const target = o.to ?? app.host;
  const host = inv.hosts.find((h) => h.name === target);
  if (host?.role !== 'apps')
    throw new InfraError(
      `--to ${JSON.stringify(target)}: expected an apps host of ${inv.file} (${inv.hosts
        .filter((h) => h.role === 'apps')
        .map((h) => h.name)
        .join(', ')})`,
    );
  const stamp = stampNow();
  const { base, bundle, password, control } = await withControl(inv, async (t, c) => {
    const list = await t.exec(listBasesScript(name));
    const base = chooseBase(parseBases(list.stdout), at);
    if (!base)
      throw new InfraError(
        at === 'latest'
          ? `${c.name} has no base backup of ${name} yet (see: infra check ${c.name})`
          : `${c.name} has no base backup of ${name} finished before ${at.toISOString()}: the earliest moment is after the first base backup`,
      );
    const r = await t.exec(bundleScript(name, base), { timeoutMs: 3_600_000 });
    if (r.code !== 0)
      throw new InfraError(`reading ${name}'s archive on ${c.name} failed: ${r.stderr.trim()}`);
    const pw = await t.exec(`cat ${shq(`${copiesDir(name)}/pg_password`)} 2>/dev/null`);
    const password = /^[A-Za-z0-9]{16,}$/.test(pw.stdout.trim()) ? pw.stdout.trim() : undefined;
    return { base, bundle: r.stdout.trim(), password, control: c.name };
  });
  const keep = `${volumeName(name, app.postgres)}-before-pitr-${stamp}`;
  const moment = at === 'latest' ? 'the last WAL the control host received' : at.toISOString();
  await confirm(
    [
      `Restore ${name} on ${target} to ${moment}:`,
      `  base backup ${base.stamp}${base.set ? ` (archive ${base.set})` : ''} from ${control}, finished ${base.done.toISOString()}, then WAL replayed`,
      `  the current volume ${volumeName(name, app.postgres)} on ${target}, if any, is kept as ${keep} (remove with: infra restore ${name} --prune)`,
      ...(target !== app.host
        ? [`  the inventory's host of ${name} becomes ${target} (was ${app.host})`]
        : []),
    ].join('\n'),
    name,
    o.yes,
  );
  // The receiver stops before the server is replaced: started against the recovered server (a new
  // history, no slot) it would find its archive unreserved and mark a gap (tasks/pitr-gap.ts).
  await withControl(inv, (t) =>
    t.exec(`systemctl stop ${shq(`infra-pitr-wal@${name}.service`)} 2>/dev/null || true`),
  );
  const started = Date.now();
  const moved = { ...app, host: target };
  const replayed = await withApp(
    g,
    name,
    async (s) => {
      s.out.line(
        (
          await s.run(stageScript(name, base), 'staging the archive', { stdin: bundle, timeoutMs: 3_600_000 })
        ).trim(),
      );
      await s.run(stopStackScript(name), `stopping ${name}`);
      const kept = await s.run(prepareScript(name, app.postgres, base.stamp, keep), 'preparing the data', {
        timeoutMs: 3_600_000,
      });
      const hadVolume = kept.includes('kept');
      if (hadVolume) s.out.line(`${target}: kept the old volume as ${keep}`);
      try {
        const out = await s.run(recoverScript(name, app.postgres, at), 'the recovery', {
          timeoutMs: 3_600_000,
        });
        return /replayed (\S+)/.exec(out)?.[1] ?? 'unknown';
      } catch (e) {
        // A failed restore changes nothing: the data and the stack as they were, the receiver on.
        const msg = (e as Error).message;
        try {
          await s.run(revertScript(name, app.postgres, hadVolume ? keep : null), `putting ${name} back`);
        } catch (r) {
          throw new InfraError(
            `${msg}; putting ${name} back failed too: ${(r as Error).message}${hadVolume ? `; its data before the restore is in the volume ${keep}` : ''}`,
          );
        }
        await withControl(inv, (t) =>
          t.exec(`systemctl start ${shq(`infra-pitr-wal@${name}.service`)} 2>/dev/null || true`),
        );
        const past = /recovery ended before configured recovery target/.test(msg)
          ? ` (the moment is after the last WAL ${control} received: --at latest restores all there is)`
          : '';
        throw new InfraError(`${msg}; nothing changed: ${name} on ${target} is as it was${past}`);
      }
    },
    { inv, app: moved },
  );
  if (target !== app.host) {
    const file = g.inventory ?? defaultInventoryPath();
    const doc = parseDocument(readFileSync(file, 'utf8'));
    doc.setIn(['apps', name, 'host'], target);
    writeFileAtomic(file, doc.toString());
  }
  const plan = (h: string) => ({
    plan: (i: Parameters<typeof singleAppPlan>[0], _h: string, facts: HostFacts) => {
      const own = h === target ? singleAppPlan(i, name) : undefined;
      const host = i.hosts.find((x) => x.name === h)!;
      const pg = own ? appPgTasks(i, host, [own.stack], facts, { only: name }) : { tasks: [], ids: [] };
      return [
        ...(own?.tasks ?? []),
        ...pg.tasks,
        ...pitrRoleTasks(i, h, {}, { appStacks: own ? [own.stack] : [], only: name, facts, appPg: pg.ids }),
      ];
    },
    requireSecrets: false,
  });
  if ((await converge('apply', g, [target], { json: false }, plan(target))) !== 0)
    throw new InfraError(`${name} was recovered on ${target} but its stack did not converge: see above`);
  await withApp(
    g,
    name,
    async (s) => {
      // A physical copy keeps the old roles' passwords: the control host's copy of the password
      // file matches them; without one, the role takes this host's file.
      if (password) await restorePassword(s, password);
      const f = shq(passwordFile(name));
      await s.run(
        `{ printf 'alter role "%s" password ' ${shq(name)}; printf "'%s';\\n" "$(cat ${f})"; } | ${shCmd(psqlBatchArgv(name, ['-q']))}`,
        `matching ${name}'s role to its password file`,
      );
    },
    { inv: loadApps(g), app: moved },
  );
  await withControl(inv, async (t) => {
    const r = await t.exec(rotateScript(name, stamp));
    if (r.code !== 0) throw new InfraError(`setting the old archive aside failed: ${r.stderr.trim()}`);
  });
  const fresh = loadApps(g);
  const controlHost = fresh.hosts.find((h) => h.role === 'control')!.name;
  if ((await converge('apply', g, [controlHost], { json: false }, plan(controlHost))) !== 0)
    throw new InfraError(
      `${name} is restored, but streaming its WAL again did not converge on ${controlHost}`,
    );
  await withControl(fresh, async (t) => {
    await t.exec(
      `for i in $(seq 1 60); do ls /var/backups/infra-pitr/${name}/wal | grep -qE '^[0-9A-F]{24}' && break; sleep 1; done`,
      { timeoutMs: 90_000 },
    );
    const r = await t.exec(runBaseBackup(name), { timeoutMs: 3_600_000 });
    if (r.code !== 0) throw new InfraError(`the new base backup of ${name} failed: ${r.stderr.trim()}`);
  });
  new Output(redactorFor(fresh)).line(
    `${target}: restored ${name} to ${moment}; last transaction replayed: ${replayed} (${((Date.now() - started) / 1000).toFixed(1)}s); ${controlHost} streams it anew (old archive: before-restore-${stamp})`,
  );
  return 0;
}
