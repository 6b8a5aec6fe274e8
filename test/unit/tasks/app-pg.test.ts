import { describe, expect, it } from 'vitest';
import { analyticsHbaLines } from '../../../src/roles/app-pg.js';
import { diffHba, hbaScript, marked, parseHba } from '../../../src/tasks/app-pg-hba.js';
import {
  appRestartTask,
  diffRestart,
  diffSettings,
  parseSettings,
  settingsSql,
} from '../../../src/tasks/app-pg-settings.js';
import { hbaLines as pitrLines } from '../../../src/tasks/pitr-source.js';

const FILE = '/var/lib/postgresql/18/docker/pg_hba.conf';

describe("one owner of infra's pg_hba block on top of each app's file", () => {
  const want = [...pitrLines('100.64.0.1'), ...analyticsHbaLines('xhosa', 'replication', '100.64.0.9')];
  it('in sync only when the marked lines are exactly the block, on top', () => {
    const s = parseHba(`${FILE}|${marked(want).join(';;')}|4`);
    expect(s).toEqual({ up: true, file: FILE, marked: marked(want), leading: 4 });
    expect(diffHba('xhosa', want, s)).toEqual([]);
    // a marked line below the top (someone's edit moved it) or a missing one: rewrite the block
    expect(diffHba('xhosa', want, { ...s, leading: 3 }).map((c) => c.kind)).toEqual(['pg-hba']);
    expect(diffHba('xhosa', want.slice(0, 2), s)[0]!.summary).toMatch(/2 lines/);
    // PITR's old two lines, before the block existed, are taken over
    const old = parseHba(`${FILE}|host replication infra_wal 100.64.0.1/32 scram-sha-256 # infra-pitr|1`);
    expect(diffHba('xhosa', want, old).length).toBe(1);
    // no feature: the block goes
    expect(diffHba('xhosa', [], s)[0]!.summary).toMatch(/remove/);
    expect(diffHba('xhosa', [], parseHba(`${FILE}||0`))).toEqual([]);
    expect(parseHba('down').up).toBe(false);
    expect(diffHba('xhosa', want, parseHba('down'))).toEqual([]);
  });
  it('the analytics lines name the database and the analytics host; the role is rejected elsewhere', () => {
    expect(analyticsHbaLines('xhosa', 'replication', '100.64.0.9')).toEqual([
      'host xhosa infra_analytics 100.64.0.9/32 scram-sha-256',
      'host all,replication infra_analytics all reject',
    ]);
    expect(analyticsHbaLines('xhosa', 'direct', '100.64.0.9')).toEqual([
      'host xhosa analytics_ro 100.64.0.9/32 scram-sha-256',
      'host all analytics_ro all reject',
    ]);
    expect(analyticsHbaLines('xhosa', 'none', '100.64.0.9')).toEqual([]);
  });
  it('the script writes every line quoted and drops both marks', () => {
    const s = hbaScript('xhosa', want, FILE);
    expect(s).toContain("'host xhosa infra_analytics 100.64.0.9/32 scram-sha-256 # infra'");
    expect(s).toContain('# infra(-pitr)?$');
    expect(s).toContain('pg_reload_conf');
  });
});

describe('one owner of the server settings, and the restart only with consent', () => {
  const up = parseSettings('1GB|replica|replica|3');
  it('cap when a slot is kept, wal_level logical for replication', () => {
    expect(up).toEqual({ up: true, cap: '1GB', walLevel: 'replica', walLevelFile: 'replica', tables: 3 });
    expect(diffSettings({ app: 'x', cap: '1024MB', logical: false }, up)).toEqual([]);
    expect(diffSettings({ app: 'x', cap: null, logical: false }, { ...up, cap: '-1' })).toEqual([]);
    expect(
      diffSettings({ app: 'x', cap: '1GB', logical: true }, { ...up, cap: '-1' }).map((c) => c.kind),
    ).toEqual(['slot-wal-cap', 'analytics-wal-level']);
    const sql = settingsSql({ app: 'x', cap: '1GB', logical: true }, { ...up, cap: '-1' });
    expect(sql).toContain("alter system set max_slot_wal_keep_size = '1GB';");
    expect(sql).toContain("alter system set wal_level = 'logical';");
    expect(diffSettings({ app: 'x', cap: '1GB', logical: true }, { ...up, walLevelFile: 'logical' })).toEqual(
      [],
    );
  });
  it('the restart waits for --allow-restart unless the server holds no table yet', () => {
    const pending = { ...up, walLevelFile: 'logical' };
    expect(diffRestart('x', pending).map((c) => c.kind)).toEqual(['analytics-wal-level']);
    expect(diffRestart('x', { ...pending, walLevel: 'logical' })).toEqual([]);
    const asked = appRestartTask({ app: 'x', host: 'hornbill', allowRestart: false }, []);
    expect(asked.wait!(pending)).toEqual({
      on: "the operator's consent to restart it",
      run: 'infra apply hornbill --allow-restart',
    });
    expect(asked.wait!({ ...pending, tables: 0 })).toBeUndefined();
    expect(
      appRestartTask({ app: 'x', host: 'hornbill', allowRestart: true }, []).wait!(pending),
    ).toBeUndefined();
  });
});
