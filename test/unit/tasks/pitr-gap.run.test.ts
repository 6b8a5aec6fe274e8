import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PITR_DIR, PITR_ETC } from '../../../src/tasks/pitr.js';
import { GAP_SCRIPT } from '../../../src/tasks/pitr-gap.js';
import { fakeTools } from '../fake-tools.js';

/** GAP_SCRIPT run for real in dash, its paths in a scratch dir and docker a stand-in. */
function startCheck(slotRow: string, wal: string[], gap?: string) {
  const t = fakeTools('infra-pitr-gap-');
  const pitr = path.join(t.dir, 'pitr');
  const etc = path.join(t.dir, 'etc');
  mkdirSync(path.join(pitr, 'beanstock', 'wal'), { recursive: true });
  mkdirSync(etc);
  writeFileSync(path.join(etc, 'beanstock.env'), 'PG_HOST=100.64.0.2\nPG_PORT=15401\nPG_MAJOR=18\n');
  for (const w of wal) writeFileSync(path.join(pitr, 'beanstock', 'wal', w), '');
  if (gap) writeFileSync(path.join(pitr, 'beanstock', 'gap'), gap);
  // `docker run … sh -c SCRIPT sh HOST PORT` prints the slot's row, as the image's psql would.
  t.fake('docker', `[ "$1" = run ] && printf '%s\\n' '${slotRow}'; exit 0`);
  const script = path.join(t.dir, 'start');
  writeFileSync(script, GAP_SCRIPT.replaceAll(PITR_DIR, pitr).replaceAll(PITR_ETC, etc));
  let code = 0;
  let stderr = '';
  try {
    execFileSync('dash', [script, 'beanstock'], {
      env: { PATH: `${t.bin}:/usr/bin:/bin` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    code = (e as { status: number }).status;
    stderr = String((e as { stderr: Buffer }).stderr);
  }
  const marker = path.join(pitr, 'beanstock', 'gap');
  return {
    code,
    stderr,
    gap: existsSync(marker) ? readFileSync(marker, 'utf8') : null,
    calls: t.calls(),
  };
}

describe('the receiver start check: a gap is found, marked, and stops the start', () => {
  const SEG = '000000010000000000000007';
  it('a slot that reserves WAL: streaming starts', () => {
    const r = startCheck('physical|0/7000148|1', [SEG, '000000010000000000000008.partial']);
    expect([r.code, r.gap]).toEqual([0, null]);
    expect(r.calls.join('\n')).toContain('--create-slot --if-not-exists');
  });

  it('a fresh slot on an empty archive (first start, after a restore or a recovery) is no gap', () => {
    expect(startCheck('physical||', []).code).toBe(0);
  });

  it('an invalidated slot (restart_lsn NULL) on an archive with segments: marked, start refused', () => {
    const r = startCheck('physical||', [SEG, '000000010000000000000008.partial']);
    expect(r.code).toBe(1);
    expect(r.gap).toMatch(/^000000010000000000000008 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
    expect(r.stderr).toMatch(/reserves no WAL .* archive ends at 000000010000000000000008: a gap/);
  });

  it('a server too old for READ_REPLICATION_SLOT (before 15) is not a gap', () => {
    expect(startCheck('unknown', [SEG]).code).toBe(0);
  });

  it('a marked gap stops every later start without asking the server', () => {
    const r = startCheck('physical|0/7000148|1', [SEG], `${SEG} 2026-12-05T22:00:00Z\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`gap after ${SEG}: run infra apply`);
    expect(r.calls.filter((c) => c.startsWith('docker run'))).toEqual([]);
  });
});
