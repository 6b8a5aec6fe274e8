import { describe, expect, it } from 'vitest';
import { walCapBytes } from '../../../src/inventory/schema.js';
import { marked } from '../../../src/tasks/app-pg-hba.js';
import {
  diffBase,
  envFile,
  type PitrTarget,
  parseBase,
  readyTask,
  receiverTask,
  walServiceUnit,
} from '../../../src/tasks/pitr.js';
import { GAP_SCRIPT } from '../../../src/tasks/pitr-gap.js';
import {
  chooseBase,
  parseAt,
  parseBases,
  prepareScript,
  recoverScript,
  recoveryArgs,
} from '../../../src/tasks/pitr-restore.js';
import {
  diffSource,
  hbaLines,
  parseSource,
  parseSources,
  type SourceState,
  sourceSql,
} from '../../../src/tasks/pitr-source.js';

const V = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';
const ok: SourceState = {
  up: true,
  verifier: V,
  cap: '1GB',
  hba: marked(hbaLines('100.64.0.1')),
  slot: { active: true, walStatus: 'reserved', retained: 1024, safe: 1024 ** 3 },
  lagSec: 0.4,
};
const target: PitrTarget = {
  app: 'a',
  host: 'hornbill',
  sourceVerifier: V,
  address: '100.64.0.2',
  port: 15401,
  major: 18,
  keepDays: 14,
};
const kinds = (s: Partial<SourceState>) => diffSource('beanstock', V, { ...ok, ...s }).map((c) => c.kind);

describe('the apps host side: role, and the stream as PostgreSQL reports it', () => {
  it('parses the probe line and the per-app blocks', () => {
    const line = `${V}|1GB|${marked(hbaLines('100.64.0.1')).join(';;')}|active reserved 16777216 1056964608|0.3`;
    expect(parseSource(line)).toEqual({
      ...ok,
      slot: { ...ok.slot!, retained: 16777216, safe: 1056964608 },
      lagSec: 0.3,
    });
    expect(parseSource('down').up).toBe(false);
    const m = parseSources(`@@ beanstock\n${line}\n@@ xhosa\ndown\n`);
    expect(m.beanstock!.up).toBe(true);
    expect(m.xhosa!.up).toBe(false);
    expect(parseSource(`none|-1|a;;b|none|-`)).toMatchObject({
      verifier: null,
      cap: '-1',
      slot: null,
      lagSec: null,
    });
  });

  it('in sync is []; each difference is one change of its kind', () => {
    expect(kinds({})).toEqual([]);
    expect(kinds({ verifier: null })).toEqual(['pitr-role']);
    // pg_hba and the cap have their own owners (tasks/app-pg-hba.ts, app-pg-settings.ts).
    expect(kinds({ cap: '-1', hba: [] })).toEqual([]);
    // No slot yet: the control host's receiver makes it; not a finding.
    expect(kinds({ slot: null })).toEqual([]);
    expect(kinds({ slot: { active: false, walStatus: 'reserved', retained: 5, safe: 1024 } })).toEqual([
      'wal-stream-stopped',
    ]);
    expect(kinds({ slot: { active: false, walStatus: 'lost', retained: 0, safe: null } })).toEqual([
      'wal-stream-stopped',
      'wal-slot-over-cap',
    ]);
    expect(
      kinds({ slot: { active: true, walStatus: 'unreserved', retained: 2 * 1024 ** 3, safe: -5 } }),
    ).toEqual(['wal-slot-over-cap']);
    expect(kinds({ lagSec: 61 })).toEqual(['wal-stream-lag']);
    expect(kinds({ lagSec: 60 })).toEqual([]);
    expect(kinds({ up: false, verifier: null })).toEqual([]);
  });

  it('the cap from the inventory: "over" measured against it', () => {
    expect(walCapBytes('1GB')).toBe(walCapBytes('1024MB'));
    expect(walCapBytes('-1')).toBeNaN();
    const at48 = (s: Partial<SourceState>, cap = '48MB') =>
      diffSource('beanstock', V, { ...ok, cap: '48MB', ...s }, cap);
    expect(at48({})).toEqual([]);
    // PostgreSQL keeps whole segments: 48 MiB and a bit held under a 48MB cap is still safe (CI
    // saw exactly this); over is what safe_wal_size says, before the state turns `unreserved`.
    const held = { active: false, walStatus: 'reserved', retained: 49 * 1024 ** 2, safe: 15 * 1024 ** 2 };
    expect(at48({ slot: held }).map((c) => c.kind)).toEqual(['wal-stream-stopped']);
    const over = { active: true, walStatus: 'extended', retained: 65 * 1024 ** 2, safe: -1024 };
    expect(at48({ slot: over }).map((c) => c.kind)).toEqual(['wal-slot-over-cap']);
    const lost = at48({ slot: { active: false, walStatus: 'lost', retained: 0, safe: null } });
    expect(lost.map((c) => c.kind)).toEqual(['wal-stream-stopped', 'wal-slot-over-cap']);
    expect(lost[1]!.summary).toMatch(/invalidated past the cap 48MB .* point-in-time recovery has a gap/);
    expect(sourceSql(V)).toContain(`password '${V}'`);
  });

  it('replication from the control host only, and the role refused anywhere else', () => {
    expect(hbaLines('100.64.0.1')).toEqual([
      'host replication infra_wal 100.64.0.1/32 scram-sha-256',
      'host all,replication infra_wal all reject',
    ]);
  });
});

describe('the control host side', () => {
  it('base backups: none while no WAL came is not a finding; stale after 26 h', () => {
    expect(parseBase('newest none\nwal 0\n')).toEqual({ newest: null, walFiles: 0 });
    expect(diffBase('b', { newest: null, walFiles: 0 })).toEqual([]);
    expect(diffBase('b', { newest: null, walFiles: 2 }).map((c) => c.kind)).toEqual(['pitr-base-missing']);
    expect(diffBase('b', parseBase('newest 93600 20261201T033000Z\nwal 3')).map((c) => c.kind)).toEqual([]);
    expect(diffBase('b', parseBase('newest 93601 20261201T033000Z\nwal 3')).map((c) => c.kind)).toEqual([
      'pitr-base-stale',
    ]);
  });

  it('the receiver waits for the apps host while its role has another verifier (a secret made anew here)', () => {
    const gate = readyTask(target, []);
    expect(gate.diff(gate.parse(`${V}\n`))).toEqual([]);
    for (const onHost of ['', 'SCRAM-SHA-256$4096:bmV3$bmV3:bmV3']) {
      const changes = gate.diff(gate.parse(onHost));
      expect(changes.map((c) => c.kind)).toEqual(['pitr-source-stale']);
      expect(gate.wait?.(gate.parse(onHost))).toEqual({ on: 'hornbill', run: 'infra apply hornbill' });
      expect(gate.apply(gate.parse(onHost), changes)).toEqual([]);
    }
  });

  it('a receiver retrying while its apps host is down is not drift here; stopped or disabled is', () => {
    const r = receiverTask('a', []);
    const diff = (p: string) => r.diff(r.parse(p)).map((c) => c.kind);
    expect(diff('UnitFileState=enabled\nActiveState=active\n')).toEqual([]);
    expect(diff('UnitFileState=enabled\nActiveState=activating\n')).toEqual([]);
    expect(diff('UnitFileState=enabled\nActiveState=failed\n')).toEqual(['service-stopped']);
    expect(diff('UnitFileState=disabled\nActiveState=inactive\n')).toEqual([
      'service-disabled',
      'service-stopped',
    ]);
  });

  it('per major: the receiver and base backup run in the app major image', () => {
    for (const major of [16, 17, 18]) {
      expect(envFile({ ...target, major })).toContain(`PG_MAJOR=${major}\n`);
    }
    // systemd expands ${PG_MAJOR} from the env file (a literal in the unit, not a JS template).
    expect(walServiceUnit).toContain(['postgres:$', '{PG_MAJOR} pg_receivewal'].join(''));
    expect(GAP_SCRIPT).toContain('--slot infra_pitr --create-slot --if-not-exists');
    expect(walServiceUnit).not.toContain('--synchronous');
  });
});

describe('restore --at', () => {
  it('parses a moment only with its zone', () => {
    expect(parseAt('latest')).toBe('latest');
    expect((parseAt('2026-12-01T17:00:00Z') as Date).toISOString()).toBe('2026-12-01T17:00:00.000Z');
    expect((parseAt('2026-12-01 18:00:00+01:00') as Date).toISOString()).toBe('2026-12-01T17:00:00.000Z');
    expect((parseAt('2026-12-01T18:00:00.250+0100') as Date).toISOString()).toBe('2026-12-01T17:00:00.250Z');
    for (const bad of ['yesterday', '2026-12-01T17:00:00', '2026-13-01T17:00:00Z', ''])
      expect(() => parseAt(bad)).toThrow(/expected latest or a time with its zone/);
  });

  const bases = parseBases(
    [
      '. 20261202T033000Z 2026-12-02T03:30:20Z',
      '. 20261203T010000Z 2026-12-03T01:00:10Z',
      'before-restore-20261203T005900Z 20261201T033000Z 2026-12-01T03:30:15Z',
      'before-restore-20261203T005900Z 20261202T033000Z 2026-12-02T03:31:00Z',
      'junk line',
    ].join('\n'),
  );
  it('chooses the newest base backup finished before the moment, older archives after the current', () => {
    expect(bases).toHaveLength(4);
    expect(chooseBase(bases, 'latest')).toMatchObject({ set: '', stamp: '20261203T010000Z' });
    expect(chooseBase(bases, new Date('2026-12-02T12:00:00Z'))).toMatchObject({
      set: '',
      stamp: '20261202T033000Z',
    });
    expect(chooseBase(bases, new Date('2026-12-01T12:00:00Z'))).toMatchObject({
      set: 'before-restore-20261203T005900Z',
      stamp: '20261201T033000Z',
    });
    expect(chooseBase(bases, new Date('2026-11-30T00:00:00Z'))).toBeUndefined();
    expect(chooseBase([], 'latest')).toBeUndefined();
  });

  it('recovery settings: promote at the target; none for latest; each major its image and PGDATA', () => {
    expect(recoveryArgs('latest')).not.toContain('recovery_target_time');
    expect(recoveryArgs(new Date('2026-12-01T17:00:00Z'))).toContain(
      'recovery_target_time=2026-12-01 17:00:00.000+00',
    );
    expect(recoveryArgs('latest')).toContain('recovery_target_action=promote');
    for (const [major, mount] of [
      [16, '/var/lib/postgresql/data'],
      [17, '/var/lib/postgresql/data'],
      [18, '/var/lib/postgresql'],
    ] as const) {
      const p = prepareScript('a', major, '20261201T033000Z', `a-pg${major}-before-pitr-x`);
      expect(p).toContain(`a-pg${major}:${mount} `);
      expect(p).toContain(`postgres:${major} `);
      expect(recoverScript('a', major, 'latest')).toContain(`a-pg${major}:${mount} `);
    }
  });
});
