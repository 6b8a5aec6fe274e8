import { execFileSync } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  diffBase,
  envFile,
  parseBase,
  parseVerifiers,
  secretScript,
  walServiceUnit,
} from '../../../src/tasks/pitr.js';

describe('the control host side', () => {
  it('the verifier script makes what PostgreSQL would (SCRAM-SHA-256, RFC 7677) and never prints the password', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pitr-'));
    const script = secretScript('beanstock').replaceAll('/etc/infra/pitr', dir);
    execFileSync('sh', ['-c', script]);
    const pw = execFileSync('cat', [path.join(dir, 'beanstock.password')])
      .toString()
      .trim();
    const v = execFileSync('cat', [path.join(dir, 'beanstock.verifier')])
      .toString()
      .trim();
    expect(pw).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(v).not.toContain(pw);
    const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(v)!;
    const salted = pbkdf2Sync(pw, Buffer.from(m[2]!, 'base64'), Number(m[1]), 32, 'sha256');
    const stored = createHash('sha256')
      .update(createHmac('sha256', salted).update('Client Key').digest())
      .digest();
    expect(stored.toString('base64')).toBe(m[3]);
    expect(createHmac('sha256', salted).update('Server Key').digest('base64')).toBe(m[4]);
    expect(parseVerifiers(`beanstock ${v}\nxhosa missing\n`)).toEqual({ beanstock: v, xhosa: null });
    expect(execFileSync('cat', [path.join(dir, 'beanstock.pgpass')]).toString()).toBe(
      `*:*:*:infra_wal:${pw}\n`,
    );
    // Once: a second run keeps password and verifier.
    execFileSync('sh', ['-c', script]);
    expect(
      execFileSync('cat', [path.join(dir, 'beanstock.verifier')])
        .toString()
        .trim(),
    ).toBe(v);
    writeFileSync(path.join(dir, 'x'), '');
  });

  it('base backups: none while no WAL came is not a finding; stale after 26 h', () => {
    expect(parseBase('newest none\nwal 0\n')).toEqual({ newest: null, walFiles: 0 });
    expect(diffBase('b', { newest: null, walFiles: 0 })).toEqual([]);
    expect(diffBase('b', { newest: null, walFiles: 2 }).map((c) => c.kind)).toEqual(['pitr-base-missing']);
    expect(diffBase('b', parseBase('newest 93600 20261201T033000Z\nwal 3')).map((c) => c.kind)).toEqual([]);
    expect(diffBase('b', parseBase('newest 93601 20261201T033000Z\nwal 3')).map((c) => c.kind)).toEqual([
      'pitr-base-stale',
    ]);
  });

  it('per major: the receiver and base backup run in the app major image', () => {
    for (const major of [16, 17, 18]) {
      expect(envFile({ app: 'a', address: '100.64.0.2', port: 15401, major, keepDays: 14 })).toContain(
        `PG_MAJOR=${major}\n`,
      );
    }
    // systemd expands ${PG_MAJOR} from the env file (a literal in the unit, not a JS template).
    expect(walServiceUnit).toContain(['postgres:$', '{PG_MAJOR} pg_receivewal'].join(''));
    expect(walServiceUnit).toContain('--slot infra_pitr --create-slot --if-not-exists');
    expect(walServiceUnit).not.toContain('--synchronous');
  });
});
