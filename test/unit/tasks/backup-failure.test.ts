import { describe, expect, it } from 'vitest';
import {
  backupFailureTask,
  diffBackupFailure,
  parseBackupFailure,
} from '../../../src/tasks/backup-failure.js';
import { BACKUP_SCRIPT, FAILED_DIR } from '../../../src/tasks/pg-backup.js';

describe('a failed backup stays visible until one succeeds', () => {
  it('no record: nothing to report', () => {
    expect(diffBackupFailure('xhosa', parseBackupFailure('\n'))).toEqual([]);
  });

  it('a record names when and why, and apply backs up again', () => {
    const f = parseBackupFailure(
      '2026-12-01T17:40:00Z the dump of xhosa does not read back whole (pg_restore: error: could not read from input file: end of file); is /var/backups/infra/xhosa full? 0 free\n',
    );
    expect(f?.at).toBe('2026-12-01T17:40:00Z');
    const [c] = diffBackupFailure('xhosa', f);
    expect(c?.kind).toBe('backup-failed');
    expect(c?.summary).toContain(
      'the last backup of xhosa failed at 2026-12-01T17:40:00Z: the dump of xhosa',
    );
    expect(c?.summary).toContain('is /var/backups/infra/xhosa full?');
    const t = backupFailureTask({ app: 'xhosa', retentionDays: 14 });
    expect(t.probe).toContain(`${FAILED_DIR}/xhosa.failed`);
    expect(t.apply(null, [])[0]!.script).toBe('/usr/local/sbin/infra-pg-backup xhosa 14');
  });

  it('the script records failures in memory, verifies the archive before naming it a dump, clears on success', () => {
    const verify = BACKUP_SCRIPT.indexOf('pg_restore -f /dev/null');
    expect(verify).toBeGreaterThan(BACKUP_SCRIPT.indexOf('pg_dump -U'));
    expect(verify).toBeLessThan(BACKUP_SCRIPT.indexOf('mv -f "$tmp" "$dir/$name"'));
    expect(BACKUP_SCRIPT).toContain(`> ${FAILED_DIR}/$app.failed`);
    expect(BACKUP_SCRIPT.indexOf(`rm -f ${FAILED_DIR}/$app.failed`)).toBeGreaterThan(
      BACKUP_SCRIPT.indexOf('sha256sum "$name"'),
    );
  });
});
