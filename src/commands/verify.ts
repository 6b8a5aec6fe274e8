import { InfraError } from '../errors.js';
import { shq } from '../quote.js';
import { Output } from '../report/output.js';
import { DRILL_SCRIPT_PATH, runDrillScript } from '../tasks/backup-drill.js';
import { checkBackupName } from '../tasks/pg-backup.js';
import { findApp, lastLines, loadApps } from './app-host.js';
import { pullTarget, withControl } from './control-copies.js';
import { type GlobalOptions, redactorFor } from './shared.js';

export interface VerifyOptions {
  from?: string;
  name?: string;
}

export interface DrillRow {
  table: string;
  found: number;
  expected: number;
  status: string;
}

/** Pure: the drill's `row TABLE FOUND EXPECTED STATUS` lines. */
export function parseDrillRows(stdout: string): DrillRow[] {
  return stdout
    .split('\n')
    .map((l) => /^row (\S+) (\d+) (\d+) (\S+)$/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ table: m[1]!, found: Number(m[2]), expected: Number(m[3]), status: m[4]! }));
}

/**
 * `infra backup verify NAME [--from apps|control|offsite] [--name BACKUP]`: the restore drill, run on the
 * control host (its throwaway PostgreSQL; the drill script is the one the weekly timer runs).
 */
export async function verifyBackup(g: GlobalOptions, appName: string, o: VerifyOptions): Promise<number> {
  const inv = loadApps(g);
  const app = findApp(inv, appName);
  const from = o.from ?? 'control';
  if (from !== 'control' && from !== 'apps' && from !== 'offsite')
    throw new InfraError(`--from ${JSON.stringify(from)}: expected apps, control or offsite`);
  if (from === 'offsite' && !inv.offsite)
    throw new InfraError(`--from offsite: ${inv.file} has no backups.offsite (docs/apps.md "Off-site")`);
  let name: string | undefined;
  if (o.name !== undefined) {
    name = checkBackupName(app.name, o.name);
    if (!name)
      throw new InfraError(
        `${JSON.stringify(o.name)} is not a backup of ${app.name} (see: infra backups ${app.name})`,
      );
  }
  const source =
    from === 'apps'
      ? (() => {
          const t = pullTarget(inv, app);
          return `apps:${t.address}:${t.port}`;
        })()
      : from;
  const out = new Output(redactorFor(inv));
  return withControl(inv, async (t, control) => {
    if ((await t.exec(`[ -x ${shq(DRILL_SCRIPT_PATH)} ]`)).code !== 0)
      throw new InfraError(
        `${control.name} has no restore drill yet (${DRILL_SCRIPT_PATH})`,
        `run: infra apply ${control.name}`,
      );
    const started = Date.now();
    const r = await t.exec(runDrillScript(app.name, app.postgres, source, name), { timeoutMs: 3_600_000 });
    const rows = parseDrillRows(r.stdout);
    const drilled = /^drill (\S+) ok$/m.exec(r.stdout)?.[1];
    const snapshot = /^snapshot (\S+) (\S+)$/m.exec(r.stdout);
    const where =
      from === 'apps'
        ? app.host
        : from === 'offsite'
          ? `off-site repository${snapshot ? ` (snapshot ${snapshot[1]} of ${snapshot[2]})` : ''}`
          : control.name;
    if (rows.length)
      out.line(
        `${app.name}: restore drill on ${control.name} of the copy on ${where}${drilled ? ` (${drilled})` : ''}:`,
      );
    for (const row of rows)
      out.line(
        `  ${row.table.padEnd(32)} ${`${row.found}/${row.expected}`.padStart(13)} rows  ${row.status}`,
      );
    if (r.code !== 0)
      throw new InfraError(
        `restore drill of ${app.name} failed: ${lastLines(r.stderr, 2).replace(/^infra-backup-drill: /, '')}`,
      );
    out.line(
      `${app.name}: ${drilled} restored into a throwaway PostgreSQL ${app.postgres} on ${control.name}: every table matches its manifest (${((Date.now() - started) / 1000).toFixed(1)}s; the instance is removed)`,
    );
    return 0;
  });
}
