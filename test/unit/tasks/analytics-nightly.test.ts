import { describe, expect, it } from 'vitest';
import { syncAfterCopies } from '../../../src/roles/analytics.js';
import {
  copyDb,
  diffSync,
  parseSync,
  syncConf,
  syncTimerUnit,
} from '../../../src/tasks/analytics-nightly.js';

const NOW = 1_800_000_000;
const probe = (o: { synced?: string; failed?: string; copy?: string; server?: string; dbs?: string[] }) =>
  [
    `synced ${o.synced ?? ''}`,
    `failed ${o.failed ?? ''}`,
    `copy ${o.copy ?? ''}`,
    `now ${NOW}`,
    'hbafile|/x',
    ...(o.server
      ? [`server|docflow|host=127.0.0.1,port=5432,dbname=${o.server},updatable=false,truncatable=false|false`]
      : []),
    ...(o.dbs ?? []).map((d) => `db|${d}|false|false`),
  ].join('\n');
const COPY = 'docflow-20261206T013546Z.dump';
const SERVED = 'docflow_20261206t013546z';
const findings = (out: string) => diffSync('docflow', parseSync(out)).map((c) => `${c.kind}: ${c.summary}`);

describe('nightly: one app in the analytics layer', () => {
  it('the copy database is the app name and the stamp, lowercase', () => {
    expect(copyDb('docflow', COPY)).toBe(SERVED);
    expect(copyDb('my-app', 'my-app-20261206T013546Z.dump')).toBe('my_app_20261206t013546z');
  });

  it('served, recorded an hour ago: in sync', () => {
    expect(
      findings(
        probe({ synced: `20261206T013546Z abc ${NOW - 3600}`, copy: COPY, server: SERVED, dbs: [SERVED] }),
      ),
    ).toEqual([]);
  });

  it('no server yet: the instance task reports it, not this one', () => {
    expect(findings(probe({ copy: COPY }))).toEqual([]);
  });

  it('a server not pointing at a copy: missing, restored from the newest copy', () => {
    expect(findings(probe({ copy: COPY, server: 'docflow' }))).toEqual([
      `analytics-app-missing: restore docflow's newest copy (${COPY}) into the analytics layer`,
    ]);
  });

  it('a failed sync is reported with its reason and what still serves', () => {
    expect(
      findings(
        probe({
          synced: `x y ${NOW}`,
          failed: '2026-12-06T01:00:00Z the copy fails its sha256',
          copy: COPY,
          server: SERVED,
          dbs: [SERVED],
        }),
      ),
    ).toEqual([
      `analytics-sync-failed: the last analytics sync of docflow failed (2026-12-06T01:00:00Z the copy fails its sha256); ${SERVED} still serves`,
    ]);
  });

  it('stale after 26 h, with the dump it serves', () => {
    expect(
      findings(
        probe({
          synced: `20261206T013546Z abc ${NOW - 27 * 3600}`,
          copy: COPY,
          server: SERVED,
          dbs: [SERVED],
        }),
      ),
    ).toEqual([
      'analytics-sync-stale: the last successful analytics sync of docflow was 27 h ago (limit 26 h); its data is the dump 20261206T013546Z',
    ]);
  });

  it("copies the server does not point at are old copies; other apps' databases are not", () => {
    const out = probe({
      synced: `x y ${NOW}`,
      copy: COPY,
      server: SERVED,
      dbs: [SERVED, 'docflow_20261205t013546z', 'docflow_x_20261205t013546z', 'analytics'],
    });
    expect(findings(out)).toEqual([
      "analytics-old-copy: drop docflow's old copy docflow_20261205t013546z (the server does not point at it)",
    ]);
  });

  it('the timer runs at sync_time, persistent; the list names the apps', () => {
    expect(syncTimerUnit('05:30')).toContain('OnCalendar=*-*-* 05:30:00\nPersistent=true');
    expect(syncConf(['a', 'b'])).toMatch(/\na\nb\n$/);
  });

  it("on the control host an app's sync waits for its copies task when the plan has it", () => {
    const t = (id: string) => ({ id, probe: '', parse: () => null, diff: () => [], apply: () => [] });
    const out = syncAfterCopies([
      t('backup-copies:docflow'),
      t('analytics-sync:docflow'),
      t('analytics-sync:beanstock'),
    ]);
    expect(out.map((x) => x.after ?? [])).toEqual([[], ['backup-copies:docflow'], []]);
  });
});
