import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { InfraError } from '../errors.js';
import { writeFileAtomic } from '../inventory/edit.js';
import { shq } from '../quote.js';
import { copiesDir } from '../tasks/backup-pull.js';
import {
  backupDir,
  checkBackupName,
  humanSize,
  listBackupsScript,
  parseBackupList,
  parseChecksumLine,
  runBackupScript,
  verifyScript,
} from '../tasks/pg-backup.js';
import { type AppSession, withApp } from './app-host.js';
import {
  controlHost,
  listCopiesScript,
  offsiteNow,
  parseCopyList,
  pullNow,
  pullTarget,
  withControl,
} from './control-copies.js';
import type { GlobalOptions } from './shared.js';

export interface BackupOptions {
  /** Copy a backup to this local directory: the one just taken, or `--name`'s. */
  download?: string;
  /** With --download: an existing backup instead of a new one. */
  name?: string;
}

/** `infra backup NAME`: the same script the nightly timer runs, then optionally a download. */
export async function backup(g: GlobalOptions, app: string, o: BackupOptions): Promise<number> {
  return withApp(g, app, async (s) => {
    let name: string;
    if (o.name !== undefined) {
      const given = checkBackupName(app, o.name);
      if (!given)
        throw new InfraError(
          `${JSON.stringify(o.name)} is not a backup of ${app} (see: infra backups ${app})`,
        );
      name = given;
    } else {
      const started = Date.now();
      const made = (
        await s.run(runBackupScript(app, s.app.backupRetentionDays), `backup of ${app}`, {
          timeoutMs: 3_600_000,
        })
      ).trim();
      name = path.posix.basename(made.split('\n').at(-1) ?? '');
      s.out.line(
        `${s.host.name}: backed up ${app} to ${backupDir(app)}/${name} (${((Date.now() - started) / 1000).toFixed(1)}s)`,
      );
      // The copy the nightly pull would make, now: a backup is only real once it is elsewhere.
      if (controlHost(s.inv)) s.out.line(await copyNow(s, name));
    }
    if (o.download) await download(s, name, o.download);
    return 0;
  });
}

/**
 * The copy the nightly pull would make, now: a backup is only real once it is elsewhere. An apps
 * host not on the tailnet yet is a note (the dump stands); a copy that fails is an error.
 */
async function copyNow(s: AppSession, name: string): Promise<string> {
  const control = controlHost(s.inv)!;
  let target: ReturnType<typeof pullTarget>;
  try {
    target = pullTarget(s.inv, s.app);
  } catch (e) {
    return `${control.name}: not copied: ${(e as Error).message}`;
  }
  const t0 = Date.now();
  // With backups.offsite, the fresh copy goes off-site at once too (docs/apps.md "Off-site").
  const line = await withControl(s.inv, async (t, c) => {
    const pulled = await pullNow(t, c, target);
    return s.inv.offsite && !pulled.startsWith('not copied')
      ? `${pulled}; ${await offsiteNow(t, c)}`
      : pulled;
  }).catch((e) => {
    throw new InfraError(
      `the dump ${name} is on ${s.host.name}, but ${(e as Error).message}`,
      (e as InfraError).hint,
    );
  });
  return `${control.name}: ${line} (${((Date.now() - t0) / 1000).toFixed(1)}s)`;
}

/**
 * Over the run's own SSH connection, base64 on stdout (one buffer: fine for the dumps of small
 * apps; a streaming sftp copy is the next step for large ones). The checksum is verified on the
 * host first and again here, and the local file is written atomically.
 */
async function download(s: AppSession, name: string, dir: string): Promise<void> {
  const app = s.app.name;
  const check = await s.transport.exec(verifyScript(app, name));
  if (check.code === 4) throw new InfraError(`no backup ${name} of ${app} on ${s.host.name}`);
  if (check.code !== 0)
    throw new InfraError(`backup ${name} fails its checksum on ${s.host.name}; not downloading it`);
  const f = `${backupDir(app)}/${name}`;
  const sumLine = await s.run(`cat ${shq(`${f}.sha256`)}`, 'reading the checksum');
  const b64 = await s.run(`base64 -w0 < ${shq(f)}`, 'reading the backup', { timeoutMs: 3_600_000 });
  const bytes = Buffer.from(b64.trim(), 'base64');
  const want = parseChecksumLine(sumLine);
  const got = createHash('sha256').update(bytes).digest('hex');
  if (!want || want !== got)
    throw new InfraError(`the download of ${name} does not match its checksum; nothing written`);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  else if (!statSync(dir).isDirectory()) throw new InfraError(`${dir} is not a directory`);
  const local = path.join(dir, name);
  writeFileAtomic(local, bytes);
  writeFileAtomic(`${local}.sha256`, `${got}  ${name}\n`);
  s.out.line(
    `downloaded ${name} to ${local} (${humanSize(bytes.length)}, sha256 ${got.slice(0, 12)}… verified)`,
  );
}

/**
 * `infra backups NAME`: every backup, newest first, marked by where it exists — the apps host
 * (size, age, checksum) and the control host's verified copies. The control host is read over
 * its own connection; when it cannot be reached the apps host's list is still printed.
 */
export async function backups(g: GlobalOptions, app: string, o: { json?: boolean }): Promise<number> {
  return withApp(g, app, async (s) => {
    const list = parseBackupList(app, await s.run(listBackupsScript(app), `listing the backups of ${app}`));
    const control = controlHost(s.inv);
    let copies: ReturnType<typeof parseCopyList> | undefined;
    let copyError: string | undefined;
    if (control)
      try {
        copies = await withControl(s.inv, async (t) => {
          const r = await t.exec(listCopiesScript(app));
          if (r.code !== 0) throw new InfraError(r.stderr.trim() || `exit ${r.code}`);
          return parseCopyList(app, r.stdout);
        });
      } catch (e) {
        copyError = (e as Error).message;
      }
    const names = [...new Set([...list.map((b) => b.name), ...(copies ?? []).map((c) => c.name)])]
      .sort()
      .reverse();
    if (o.json) {
      s.out.line(
        JSON.stringify(
          {
            app,
            host: s.host.name,
            dir: backupDir(app),
            backups: list,
            ...(control && {
              control: { host: control.name, dir: copiesDir(app), copies: copies ?? null, error: copyError },
            }),
          },
          null,
          2,
        ),
      );
      return 0;
    }
    if (names.length === 0) {
      s.out.line(`${app}: no backups on ${s.host.name} yet (take one: infra backup ${app})`);
      if (copyError) s.out.line(`  ${control!.name}: not read (${copyError})`);
      return 0;
    }
    const now = Date.now() / 1000;
    const where = control ? ` and ${control.name}:${copiesDir(app)}` : '';
    s.out.line(`${app}: ${names.length} backup(s) in ${s.host.name}:${backupDir(app)}${where}, newest first`);
    if (control)
      s.out.line(
        `  ${'name'.padEnd(list[0]?.name.length ?? names[0]!.length)}  ${s.host.name.padEnd(8)}  ${control.name.padEnd(8)}  size        age`,
      );
    for (const n of names) {
      const b = list.find((x) => x.name === n);
      const c = copies?.find((x) => x.name === n);
      const size = b?.size ?? c?.size ?? 0;
      const when = b ? `${age(now - b.mtime).padStart(8)} ago` : '';
      const marks = control
        ? `  ${(b ? 'yes' : '-').padEnd(8)}  ${(copies ? (c ? 'yes' : '-') : '?').padEnd(8)}`
        : '';
      s.out.line(
        `  ${n}${marks}  ${humanSize(size).padStart(10)}  ${when}${b && !b.hasChecksum ? '  (no checksum: restore will refuse it)' : ''}`,
      );
    }
    if (copyError) s.out.line(`  ${control!.name}: not read (${copyError})`);
    return 0;
  });
}

export function age(sec: number): string {
  if (sec < 3600) return `${Math.max(0, Math.round(sec / 60))}m`;
  if (sec < 172800) return `${Math.round(sec / 3600)}h`;
  return `${Math.round(sec / 86400)}d`;
}
