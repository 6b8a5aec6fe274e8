import { InfraError } from '../errors.js';
import {
  backupDir,
  checkBackupName,
  restoreScript,
  runBackupScript,
  verifyScript,
} from '../tasks/pg-backup.js';
import { confirm, withApp } from './app-host.js';
import { fetchFromControl, restorePassword } from './restore-copy.js';
import type { GlobalOptions } from './shared.js';

/**
 * `infra restore NAME BACKUP`: checks the dump against its checksum on the host (a mismatch or a
 * missing .sha256 is refused before anything changes), asks, takes a safety backup of the
 * current data, then pg_restore --clean in one transaction.
 */
export async function restore(
  g: GlobalOptions,
  app: string,
  given: string,
  o: { yes?: boolean; from?: string },
): Promise<number> {
  const from = o.from ?? 'apps';
  if (from !== 'apps' && from !== 'control' && from !== 'offsite')
    throw new InfraError(`--from ${JSON.stringify(from)}: expected apps, control or offsite`);
  return withApp(g, app, async (s) => {
    const name = checkBackupName(app, given);
    if (!name)
      throw new InfraError(
        `${JSON.stringify(given)} is not a backup of ${app}: expected a name like ${app}-20260101T023000Z.dump (see: infra backups ${app})`,
      );
    // From the control host (or off-site, through it): the verified copy is placed on the app's
    // host first (docs/apps.md "Backups").
    const fetched = from === 'apps' ? undefined : await fetchFromControl(s, name, from);
    const file = `${backupDir(app)}/${name}`;
    const check = await s.transport.exec(verifyScript(app, name));
    if (check.code === 4)
      throw new InfraError(`no backup ${name} of ${app} on ${s.host.name} (see: infra backups ${app})`);
    if (check.code !== 0)
      throw new InfraError(
        `refusing to restore ${file}: its sha256 does not match ${name}.sha256 (or the checksum file is missing); the database was not touched`,
      );
    await confirm(
      `Restore ${app} on ${s.host.name} from ${name}? Every table of ${app} is replaced by the backup's.`,
      app,
      o.yes,
    );
    const safety = (
      await s.run(runBackupScript(app, s.app.backupRetentionDays), 'the safety backup', {
        timeoutMs: 3_600_000,
      })
    ).trim();
    s.out.line(`${s.host.name}: safety backup of the current data: ${safety.split('\n').at(-1)}`);
    const started = Date.now();
    await s.run(restoreScript(app, name), `restore of ${app}`, { timeoutMs: 3_600_000 });
    s.out.line(
      `${s.host.name}: restored ${app} from ${name} (${((Date.now() - started) / 1000).toFixed(1)}s)`,
    );
    if (fetched?.password) await restorePassword(s, fetched.password);
    return 0;
  });
}
