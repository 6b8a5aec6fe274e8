import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { InfraError } from '../errors.js';
import { writeFileAtomic } from '../inventory/edit.js';
import { shq } from '../quote.js';
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
import type { GlobalOptions } from './converge.js';

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
    }
    if (o.download) await download(s, name, o.download);
    return 0;
  });
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

/** `infra backups NAME`: newest first, with size, age and whether a checksum is there. */
export async function backups(g: GlobalOptions, app: string, o: { json?: boolean }): Promise<number> {
  return withApp(g, app, async (s) => {
    const list = parseBackupList(app, await s.run(listBackupsScript(app), `listing the backups of ${app}`));
    if (o.json) {
      s.out.line(JSON.stringify({ app, host: s.host.name, dir: backupDir(app), backups: list }, null, 2));
      return 0;
    }
    if (list.length === 0) {
      s.out.line(`${app}: no backups on ${s.host.name} yet (take one: infra backup ${app})`);
      return 0;
    }
    const now = Date.now() / 1000;
    s.out.line(`${app}: ${list.length} backup(s) in ${s.host.name}:${backupDir(app)}, newest first`);
    for (const b of list)
      s.out.line(
        `  ${b.name}  ${humanSize(b.size).padStart(10)}  ${age(now - b.mtime).padStart(8)} ago${b.hasChecksum ? '' : '  (no checksum: restore will refuse it)'}`,
      );
    return 0;
  });
}

export function age(sec: number): string {
  if (sec < 3600) return `${Math.max(0, Math.round(sec / 60))}m`;
  if (sec < 172800) return `${Math.round(sec / 3600)}h`;
  return `${Math.round(sec / 86400)}d`;
}
