import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import type { AppBackups } from './backup-timer.js';
import { FAILED_DIR, runBackupScript } from './pg-backup.js';

/**
 * A backup that failed (say, the backup disk full) is reported by `check` until one succeeds:
 * the script records why in FAILED_DIR/<app>.failed and removes it after a good dump. Without
 * this, `check` would stay green for up to 26 h (the freshness limit) while backups fail.
 * Apply runs the backup again: it clears the record, or fails with the same clear reason.
 */
export type BackupFailure = { at: string; why: string } | null;

export function parseBackupFailure(stdout: string): BackupFailure {
  const line = stdout.trim();
  if (!line) return null;
  const sp = line.indexOf(' ');
  return sp < 0 ? { at: line, why: 'unknown' } : { at: line.slice(0, sp), why: line.slice(sp + 1) };
}

export function diffBackupFailure(app: string, f: BackupFailure): Change[] {
  if (!f) return [];
  return [
    {
      summary: `the last backup of ${app} failed at ${f.at}: ${f.why} — back up ${app} again`,
      kind: 'backup-failed',
      expected: 'the last backup succeeded',
      actual: f.why,
    },
  ];
}

export function backupFailureTask(want: AppBackups, after: string[] = []): Task<BackupFailure> {
  const { app, retentionDays } = want;
  return {
    id: `app:${app}:backup-failure`,
    after,
    probe: `cat ${shq(`${FAILED_DIR}/${app}.failed`)} 2>/dev/null | head -n 1; true`,
    parse: parseBackupFailure,
    diff: (f) => diffBackupFailure(app, f),
    apply: () => [{ script: runBackupScript(app, retentionDays), timeoutMs: 60 * 60_000 }],
  };
}
