import { execFileSync } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseVerifiers, secretScript } from '../../../src/tasks/pitr.js';

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
});
