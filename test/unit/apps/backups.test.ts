import { describe, expect, it } from 'vitest';
import { appUrls } from '../../../src/commands/db.js';
import { removeTimerScript } from '../../../src/commands/remove-app.js';
import { compareCounts, parseRowCounts } from '../../../src/commands/upgrade-pg.js';
import { shCmd } from '../../../src/quote.js';
import { backupServiceUnit, diffFreshness, parseFreshness } from '../../../src/tasks/backup-timer.js';
import {
  BACKUP_SCRIPT,
  checkBackupName,
  parseBackupList,
  parseChecksumLine,
  restoreScript,
  verifyScript,
} from '../../../src/tasks/pg-backup.js';
import { psqlArgv } from '../../../src/tasks/postgres-app.js';

describe('backup listing', () => {
  it('keeps only this app’s dumps, newest first, and flags a missing checksum', () => {
    const out = [
      'beanstock-20261124T023000Z.dump 2048 1795000000 yes',
      'beanstock-20261125T023000Z.dump 4096 1795086400 no',
      'beanstock-x.dump 1 1 yes',
      'beanstock-old-20261125T023000Z.dump 1 1 yes',
      '',
    ].join('\n');
    expect(parseBackupList('beanstock', out)).toEqual([
      { name: 'beanstock-20261125T023000Z.dump', size: 4096, mtime: 1795086400, hasChecksum: false },
      { name: 'beanstock-20261124T023000Z.dump', size: 2048, mtime: 1795000000, hasChecksum: true },
    ]);
  });

  it.each([
    ['beanstock-20261125T023000Z.dump', 'beanstock-20261125T023000Z.dump'],
    ['/var/backups/infra/beanstock/beanstock-20261125T023000Z.dump', 'beanstock-20261125T023000Z.dump'],
    ['xhosa-20261125T023000Z.dump', undefined],
    ['beanstock-20261125T023000Z.dump; rm -rf /', undefined],
    ['../beanstock-20261125T023000Z.dump.sha256', undefined],
  ])('backup name %j -> %j', (given, name) => {
    expect(checkBackupName('beanstock', given)).toBe(name);
  });
});

describe('checksums', () => {
  it('reads sha256sum lines', () => {
    const hex = 'a'.repeat(64);
    expect(parseChecksumLine(`${hex}  beanstock-20261125T023000Z.dump\n`)).toBe(hex);
    expect(parseChecksumLine('garbage')).toBeUndefined();
  });
  it('restore verifies before pg_restore touches anything', () => {
    const s = restoreScript('beanstock', 'beanstock-20261125T023000Z.dump');
    expect(s.indexOf('sha256sum --status -c')).toBeGreaterThan(-1);
    expect(s.indexOf('sha256sum --status -c')).toBeLessThan(s.indexOf('pg_restore'));
    expect(s).toContain('--single-transaction');
    expect(verifyScript('a', 'a-20261125T023000Z.dump')).toContain('|| exit 3');
  });
});

describe('backup freshness', () => {
  it.each([
    ['none\n', ['backup-stale']],
    ['3600 beanstock-20261125T023000Z.dump\n', []],
    [`${26 * 3600} beanstock-20261125T023000Z.dump\n`, []],
    [`${26 * 3600 + 1} beanstock-20261125T023000Z.dump\n`, ['backup-stale']],
  ])('%j -> %j', (out, kinds) => {
    expect(diffFreshness('beanstock', parseFreshness(out)).map((c) => c.kind)).toEqual(kinds);
  });
});

describe('the backup script and its units', () => {
  it('dumps in custom format without a TTY and checksums after the rename', () => {
    expect(BACKUP_SCRIPT).toContain('exec -T db pg_dump -U "$app" -d "$app" -Fc');
    expect(BACKUP_SCRIPT.indexOf('sha256sum')).toBeGreaterThan(BACKUP_SCRIPT.indexOf('mv -f "$tmp"'));
  });
  it('the nightly unit runs the same script with the retention', () => {
    expect(backupServiceUnit('beanstock', 14)).toContain(
      'ExecStart=/usr/local/sbin/infra-pg-backup beanstock 14',
    );
    expect(removeTimerScript('beanstock')).toContain(
      'systemctl disable --now infra-pg-backup-beanstock.timer',
    );
  });
});

describe('connection URLs', () => {
  it('mask the password unless it is given, and URL-encode it', () => {
    const app = {
      name: 'beanstock',
      host: 'hornbill',
      postgres: 18,
      backupRetentionDays: 14,
      controlRetentionDays: 60,
    };
    const masked = appUrls(app, ['beanstock'], undefined, '100.77.0.11');
    expect(masked.network).toBe('postgres://beanstock:***@beanstock-postgres:5432/beanstock');
    expect(masked.tailnet).toMatch(/^postgres:\/\/beanstock:\*\*\*@100\.77\.0\.11:\d+\/beanstock$/);
    expect(appUrls(app, [], 'p@ss/w', undefined)).toEqual({
      network: 'postgres://beanstock:p%40ss%2Fw@beanstock-postgres:5432/beanstock',
      tailnet: undefined,
    });
  });
  it('psql -c quotes the statement as one argument', () => {
    expect(shCmd(psqlArgv('x', "select 'a'"))).toContain(`-c 'select '\\''a'\\'''`);
    expect(psqlArgv('x')).not.toContain('-T');
  });
});

describe('upgrade row counts', () => {
  it('compares every table', () => {
    const before = parseRowCounts('public.items 3\npublic.notes 0\n');
    expect(compareCounts(before, parseRowCounts('public.items 3\npublic.notes 0\n'))).toEqual([]);
    expect(compareCounts(before, parseRowCounts('public.items 2\nextra.t 1\n'))).toEqual([
      'public.items: 3 rows before, 2 after',
      'public.notes: 0 rows before, missing after',
      'extra.t: not in the old database',
    ]);
  });
});
