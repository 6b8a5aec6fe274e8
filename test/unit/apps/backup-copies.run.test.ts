import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { DRILL_SCRIPT } from '../../../src/tasks/backup-drill.js';
import { PULL_SCRIPT } from '../../../src/tasks/backup-pull.js';
import { SERVE_SCRIPT } from '../../../src/tasks/backup-serve.js';
import { BACKUP_SCRIPT } from '../../../src/tasks/pg-backup.js';

describe('off-host copies: the scripts parse in dash', () => {
  it.each([
    ['pull', PULL_SCRIPT],
    ['serve', SERVE_SCRIPT],
    ['backup', BACKUP_SCRIPT],
    ['drill', DRILL_SCRIPT],
  ])('%s', async (_n, script) => {
    const r = await execa('dash', ['-n'], { input: script, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});
