import { readFileSync } from 'node:fs';
import { removeAppText, writeFileAtomic } from '../inventory/edit.js';
import { shq } from '../quote.js';
import { Output } from '../report/output.js';
import { unitName } from '../tasks/backup-timer.js';
import { backupDir, runBackupScript } from '../tasks/pg-backup.js';
import { appDir, stopStackScript } from '../tasks/postgres-app.js';
import { confirm, findApp, loadApps, withApp } from './app-host.js';
import { type GlobalOptions, inventoryPath, redactorFor } from './shared.js';

/** Disables and removes the app's nightly backup units (they would fail on a stopped stack). */
export function removeTimerScript(app: string): string {
  const u = unitName(app);
  return [
    `systemctl disable --now ${shq(`${u}.timer`)} >/dev/null 2>&1 || true`,
    `rm -f ${shq(`/etc/systemd/system/${u}.timer`)} ${shq(`/etc/systemd/system/${u}.service`)}`,
    'systemctl daemon-reload',
  ].join('\n');
}

/** Volumes of every major (upgrade-pg leaves old ones), the stack directory, all but the final dump. */
export function deleteDataScript(app: string, keep: string): string {
  return [
    'set -e',
    `vols=$(docker volume ls -q --filter ${shq(`label=io.infra.app=${app}`)})`,
    '[ -z "$vols" ] || docker volume rm $vols >/dev/null',
    `rm -rf ${shq(appDir(app))}`,
    `cd ${shq(backupDir(app))} && for f in *; do case "$f" in ${shq(keep)}|${shq(`${keep}.sha256`)}) ;; *) rm -f -- "$f";; esac; done`,
    'echo "$vols"',
  ].join('\n');
}

/**
 * `infra remove-app NAME`: stops the stack and its timer, drops the inventory entry; the volume,
 * password and backups stay, so adding the app back finds its data. `--delete-data` (name typed
 * back, or --yes) first takes a final backup, which is the one file it keeps.
 */
export async function removeApp(
  g: GlobalOptions,
  name: string,
  o: { deleteData?: boolean; yes?: boolean },
): Promise<number> {
  const file = inventoryPath(g);
  const edited = removeAppText(readFileSync(file, 'utf8'), name);
  const inv = loadApps(g);
  const app = findApp(inv, name);
  if (o.deleteData)
    await confirm(
      `Delete ALL data of ${name} on ${app.host}: its PostgreSQL volume(s), password and backups (a final backup is kept)?`,
      name,
      o.yes,
    );
  await withApp(
    g,
    name,
    async (s) => {
      let final: string | undefined;
      if (o.deleteData) {
        final = (await s.run(runBackupScript(name, app.backupRetentionDays), `the final backup of ${name}`))
          .trim()
          .split('\n')
          .at(-1)!;
        s.out.line(`${s.host.name}: final backup of ${name}: ${final}`);
      }
      await s.run(stopStackScript(name), `stopping ${name}'s stack`);
      await s.run(removeTimerScript(name), `removing ${name}'s backup timer`);
      s.out.line(`${s.host.name}: stopped ${name}'s PostgreSQL stack and its backup timer`);
      if (final) {
        const vols = (
          await s.run(
            deleteDataScript(name, final.slice(final.lastIndexOf('/') + 1)),
            `deleting ${name}'s data`,
          )
        ).trim();
        s.out.line(
          `${s.host.name}: deleted volume(s) ${vols.split('\n').join(', ') || '(none)'}, ${appDir(name)} and older backups`,
        );
      } else {
        s.out.line(
          `${s.host.name}: kept the data volume, ${appDir(name)} (password) and ${backupDir(name)}; add-app ${name} brings it back`,
        );
      }
    },
    { inv, app },
  );
  writeFileAtomic(file, edited);
  new Output(redactorFor(inv)).line(`removed ${name} from ${file}`);
  return 0;
}
