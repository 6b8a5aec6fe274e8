import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem, parseInventoryText } from '../../../src/inventory/parse.js';
import { walCapBytes } from '../../../src/inventory/schema.js';
import { PITR_DIR, PITR_ETC, walServiceUnit } from '../../../src/tasks/pitr.js';
import { diffGap, GAP_SCRIPT, parseGap, recoverScript } from '../../../src/tasks/pitr-gap.js';
import { diffSource, hbaLines, type SourceState, sourceSql } from '../../../src/tasks/pitr-source.js';
import { fakeTools } from '../fake-tools.js';

const inventory = (app: string) => `tailscale:
  auth_key: env:TS_AUTHKEY
firewall:
  allow:
    - interface: tailscale0
hosts:
  toucan:
    role: control
    address: 127.0.0.1
  hornbill:
    role: apps
    address: 127.0.0.2
apps:
  beanstock:
    host: hornbill
    postgres: 18
${app}`;
const problems = (text: string) => {
  const r = parseInventoryText(text);
  return r.ok ? [] : r.problems.map((p) => formatProblem('inventory.yaml', p));
};

describe('pitr_wal_cap: the slot cap from the inventory', () => {
  it('accepts MB/GB/TB sizes of one segment or more; refuses the rest with one located line', () => {
    expect(problems(inventory('    pitr: true\n    pitr_wal_cap: 48MB\n'))).toEqual([]);
    expect(problems(inventory('    pitr: true\n    pitr_wal_cap: 2GB\n'))).toEqual([]);
    for (const bad of ['8MB', '1G', '"-1"', '"1 GB"', '0GB']) {
      expect(problems(inventory(`    pitr: true\n    pitr_wal_cap: ${bad}\n`))).toEqual([
        'inventory.yaml:18:19  apps.beanstock.pitr_wal_cap: expected a size in MB, GB or TB like 1GB or 256MB, at least 16MB (one WAL segment)',
      ]);
    }
    expect(problems(inventory('    pitr: true\n    pitr_wal_cap: 64\n'))).toEqual([
      'inventory.yaml:18:19  apps.beanstock.pitr_wal_cap: expected string, got number',
    ]);
    expect(problems(inventory('    pitr_wal_cap: 64MB\n'))).toEqual([
      'inventory.yaml:17:19  apps.beanstock.pitr_wal_cap: caps the WAL kept for point-in-time recovery, which beanstock does not have: add pitr: true or remove this key',
    ]);
  });

  it('compares in bytes as SHOW prints it, sets it, and measures "over" against it', () => {
    expect(walCapBytes('1GB')).toBe(walCapBytes('1024MB'));
    expect(walCapBytes('-1')).toBeNaN();
    const V = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';
    const ok: SourceState = {
      up: true,
      verifier: V,
      cap: '48MB',
      hba: hbaLines('100.64.0.1'),
      hbaFile: '/f',
      slot: { active: true, walStatus: 'reserved', retained: 1024 },
      lagSec: 0,
    };
    const kinds = (s: Partial<SourceState>, cap = '48MB') =>
      diffSource('beanstock', '100.64.0.1', V, { ...ok, ...s }, cap).map((c) => c.kind);
    expect(kinds({})).toEqual([]);
    expect(kinds({ cap: '1GB' }, '1024MB')).toEqual([]);
    expect(kinds({ cap: '1GB' })).toEqual(['pitr-wal-cap']);
    expect(kinds({ slot: { active: true, walStatus: 'extended', retained: 49 * 1024 ** 2 } })).toEqual([
      'wal-slot-over-cap',
    ]);
    const lost = diffSource(
      'beanstock',
      '100.64.0.1',
      V,
      {
        ...ok,
        slot: { active: false, walStatus: 'lost', retained: 0 },
      },
      '48MB',
    );
    expect(lost.map((c) => c.kind)).toEqual(['wal-stream-stopped', 'wal-slot-over-cap']);
    expect(lost[1]!.summary).toMatch(/point-in-time recovery has a gap/);
    expect(sourceSql(V, '48MB')).toContain("alter system set max_slot_wal_keep_size = '48MB';");
  });
});

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

  it('check reports the gap; apply sets the archive aside, drops the slot, streams anew, backs up at once', () => {
    expect(parseGap('none')).toEqual({ gap: null });
    expect(diffGap('beanstock', parseGap('none'))).toEqual([]);
    const found = diffGap('beanstock', parseGap(`${SEG} 2026-12-05T22:00:00Z\n`));
    expect(found.map((c) => c.kind)).toEqual(['pitr-gap']);
    expect(found[0]!.summary).toContain(`gap after ${SEG}`);
    const s = recoverScript('beanstock');
    const order = [
      'systemctl stop',
      'DROP_REPLICATION_SLOT infra_pitr WAIT',
      'mkdir before-gap-$stamp',
      'systemctl start',
      '/usr/local/sbin/infra-pitr-base beanstock',
    ].map((x) => s.indexOf(x));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(walServiceUnit).toContain('ExecStartPre=/usr/local/sbin/infra-pitr-wal-start %i');
    expect(walServiceUnit).toContain('--no-loop');
  });
});
