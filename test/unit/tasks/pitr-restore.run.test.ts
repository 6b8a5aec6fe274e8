import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { recoverScript, revertScript } from '../../../src/tasks/pitr-restore.js';
import { fakeTools } from '../fake-tools.js';

/** A restore script run for real in dash, docker a stand-in given as an sh body. */
function runWith(script: string, docker: string) {
  const t = fakeTools('infra-pitr-restore-');
  t.fake('docker', docker);
  t.fake('sleep', 'exit 0');
  const r = spawnSync('dash', ['-c', script], { env: { PATH: `${t.bin}:/usr/bin:/bin` }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls: t.calls() };
}

describe('a recovery that fails', () => {
  it('says PostgreSQL`s own reason (its FATAL line), not the shutdown lines after it', () => {
    const logs = [
      'LOG:  starting point-in-time recovery to 2026-12-06 06:09:58.1+00',
      'LOG:  redo done at 0/5000148',
      'FATAL:  recovery ended before configured recovery target was reached',
      'LOG:  startup process (PID 27) exited with exit code 1',
      'LOG:  database system is shut down',
    ].join('\\n');
    const r = runWith(
      recoverScript('beanstock', 18, new Date('2026-12-06T06:10:00Z')),
      `case "$1" in inspect) echo false;; logs) printf '${logs}\\n';; exec) exit 2;; esac; exit 0`,
    );
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('recovery ended before configured recovery target was reached');
  });

  it('puts the kept copy back into the volume, removes the copy and the staged archive', () => {
    const r = runWith(revertScript('beanstock', 18, 'beanstock-pg18-before-pitr-x'), 'exit 0');
    expect(r.code).toBe(0);
    expect(r.calls).toContain('docker rm -f beanstock-pitr-recovery');
    expect(r.calls.find((c) => c.startsWith('docker run'))).toMatch(
      /-v beanstock-pg18-before-pitr-x:\/from:ro -v beanstock-pg18:\/to .* postgres:18 -c find \/to -mindepth 1 -delete && cp -a \/from\/\. \/to\//,
    );
    expect(r.calls).toContain('docker volume rm beanstock-pg18-before-pitr-x');
    expect(r.calls.some((c) => c.includes('volume rm -f'))).toBe(false);
  });

  it('on a host that had no volume, removes the one the restore made', () => {
    const r = runWith(revertScript('beanstock', 16, null), 'exit 0');
    expect(r.code).toBe(0);
    expect(r.calls).toContain('docker volume rm -f beanstock-pg16');
    expect(r.calls.some((c) => c.startsWith('docker run'))).toBe(false);
  });

  it('a copy back that fails stops there: the kept copy is not removed', () => {
    const r = runWith(revertScript('beanstock', 18, 'k'), '[ "$1" = run ] && exit 1; exit 0');
    expect(r.code).not.toBe(0);
    expect(r.calls).not.toContain('docker volume rm k');
  });
});
