import { readFileSync } from 'node:fs';
import { errorMessage, InfraError } from '../errors.js';
import { checkPgMajor, setAppPostgresText, writeFileAtomic } from '../inventory/edit.js';
import { shCmd, shq } from '../quote.js';
import { singleAppTasks } from '../roles/apps.js';
import { restoreScript, runBackupScript } from '../tasks/pg-backup.js';
import {
  chownPasswordScript,
  majorFile,
  psqlArgv,
  stopStackScript,
  volumeName,
} from '../tasks/postgres-app.js';
import { type AppSession, confirm, findApp, loadApps, withApp } from './app-host.js';
import { converge } from './converge.js';
import { type GlobalOptions, inventoryPath } from './shared.js';

/** Exact row counts of every table (not the statistics' estimates), one `schema.table count` line each. */
export const ROW_COUNTS_SQL = `select format('%I.%I', n.nspname, c.relname) || ' ' || (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname), false, true, '')))[1]::text from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' order by 1`;

export function parseRowCounts(out: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of out.split('\n')) {
    const i = line.trim().lastIndexOf(' ');
    if (i > 0) m.set(line.trim().slice(0, i), Number(line.trim().slice(i + 1)));
  }
  return m;
}

/** Pure: every difference between two row-count tables, as readable lines; [] means equal. */
export function compareCounts(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [t, n] of before)
    if (after.get(t) !== n) out.push(`${t}: ${n} rows before, ${after.get(t) ?? 'missing'} after`);
  for (const t of after.keys()) if (!before.has(t)) out.push(`${t}: not in the old database`);
  return out;
}

const counts = async (s: AppSession) =>
  parseRowCounts(await s.run(shCmd(psqlArgv(s.app.name, ROW_COUNTS_SQL)), 'counting rows'));

/**
 * `infra upgrade-pg NAME --to V`: dump, stop the old major (its volume stays), start V on a new
 * volume through the normal converge, restore, compare exact row counts. On any failure after the
 * old stack stopped, it rolls back to the old major and volume. `--prune` removes old volumes.
 */
export async function upgradePg(
  g: GlobalOptions,
  name: string,
  o: { to?: string; prune?: boolean; yes?: boolean },
): Promise<number> {
  const file = inventoryPath(g);
  const inv = loadApps(g);
  const app = findApp(inv, name);
  if (o.prune) return prune(g, name, o.yes);
  if (o.to === undefined) throw new InfraError('say which major: --to VERSION (or --prune)');
  const to = checkPgMajor(o.to);
  const from = app.postgres;
  if (to <= from)
    throw new InfraError(
      `${name} runs PostgreSQL ${from} (inventory); --to ${to} is not an upgrade: expected a major above ${from}`,
    );
  const original = readFileSync(file, 'utf8');
  const upgraded = setAppPostgresText(original, name, to);
  // One SSH session for the whole verb: the converge runs over it too (ConvergeScope.over).
  return withApp(
    g,
    name,
    async (s) => {
      const recorded = (await s.run(`cat ${shq(majorFile(name))}`, `reading ${name}'s major`)).trim();
      if (recorded !== String(from))
        throw new InfraError(
          `${name}'s data on ${s.host.name} is PostgreSQL ${recorded}, the inventory says ${from}; converge it first (infra apply ${s.host.name})`,
        );
      const before = await counts(s);
      const path = (
        await s.run(runBackupScript(name, app.backupRetentionDays), `the dump of ${name}`, {
          timeoutMs: 3_600_000,
        })
      )
        .trim()
        .split('\n')
        .at(-1)!;
      s.out.line(`${s.host.name}: dumped ${name} (PostgreSQL ${from}, ${before.size} tables) to ${path}`);
      await s.run(stopStackScript(name), `stopping ${name}'s PostgreSQL ${from}`);
      await s.run(
        `echo ${to} > ${shq(majorFile(name))}\n${chownPasswordScript(name, to)}`,
        `preparing PostgreSQL ${to}`,
        { timeoutMs: 900_000 },
      );
      const apply = () =>
        converge(
          'apply',
          g,
          [app.host],
          { json: false },
          { plan: (i) => singleAppTasks(i, name), requireSecrets: false, over: s.connected },
        );
      const rollback = async (why: string): Promise<never> => {
        writeFileAtomic(file, original);
        await s.run(stopStackScript(name), `stopping ${name}'s PostgreSQL ${to}`);
        await s.run(
          `echo ${from} > ${shq(majorFile(name))}\n${chownPasswordScript(name, from)}`,
          'rolling back',
        );
        await apply();
        throw new InfraError(
          `upgrade of ${name} to PostgreSQL ${to} failed and was rolled back to ${from} (volume ${volumeName(name, from)}): ${why}`,
          `the new volume ${volumeName(name, to)} is left for inspection; the dump is ${path}`,
        );
      };
      try {
        writeFileAtomic(file, upgraded);
        if ((await apply()) !== 0) return await rollback(`PostgreSQL ${to} did not converge`);
        await s.run(
          restoreScript(name, path.slice(path.lastIndexOf('/') + 1)),
          `restoring into PostgreSQL ${to}`,
          {
            timeoutMs: 3_600_000,
          },
        );
        const diff = compareCounts(before, await counts(s));
        if (diff.length) return await rollback(`row counts differ: ${diff.slice(0, 5).join('; ')}`);
        const version = (
          await s.run(shCmd(psqlArgv(name, 'SHOW server_version')), 'reading the version')
        ).trim();
        s.out.line(
          `${s.host.name}: ${name} now runs PostgreSQL ${version}; ${before.size} tables, every row count equal`,
        );
        s.out.line(
          `${s.host.name}: kept the old volume ${volumeName(name, from)}; remove it with: infra upgrade-pg ${name} --prune`,
        );
        return 0;
      } catch (e) {
        if (e instanceof InfraError && /rolled back/.test(e.message)) throw e;
        return rollback(errorMessage(e));
      }
    },
    { inv, app },
  );
}

/** Removes an app's volumes but the current one (upgrade-pg --prune, restore --prune). */
export async function prune(g: GlobalOptions, name: string, yes?: boolean): Promise<number> {
  return withApp(g, name, async (s) => {
    const current = volumeName(name, s.app.postgres);
    const vols = (
      await s.run(`docker volume ls -q --filter ${shq(`label=io.infra.app=${name}`)}`, 'listing volumes')
    )
      .split('\n')
      .map((v) => v.trim())
      .filter((v) => v && v !== current);
    if (vols.length === 0) {
      s.out.line(`${s.host.name}: ${name} has no old volumes (current: ${current})`);
      return 0;
    }
    await confirm(
      `Delete ${name}'s old PostgreSQL volume(s) ${vols.join(', ')} on ${s.host.name}?`,
      name,
      yes,
    );
    await s.run(shCmd(['docker', 'volume', 'rm', ...vols]), 'removing old volumes');
    s.out.line(`${s.host.name}: removed ${vols.join(', ')}; ${current} stays`);
    return 0;
  });
}
