import { describe, expect, it } from 'vitest';
import {
  type AnalyticsSourceWant,
  analyticsSourceTask,
  diffAnalyticsSource,
  noIdentityWarnings,
  RO_CONFIG,
  sourceSql,
} from '../../../src/tasks/analytics-source.js';
import {
  type AnalyticsSourceState,
  parseAnalyticsSource,
} from '../../../src/tasks/analytics-source-state.js';

const V = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';
const probe = [
  `roles|${V}|none||f|t`,
  'table|notes|f|f|f|f',
  'table|orders|t|t|t|f',
  'table|refunds|t|f|t|f',
  'slot|active|reserved|1000000|4096|0.2',
].join('\n');
const repl: AnalyticsSourceWant = {
  app: 'xhosa',
  mode: 'replication',
  verifier: V,
  subscribed: ['orders'],
  lagThresholdSec: 30,
};
const kinds = (w: AnalyticsSourceWant, s: AnalyticsSourceState) =>
  diffAnalyticsSource(w, s).map((c) => c.kind);

describe('the analytics layer on the apps host', () => {
  const s = parseAnalyticsSource(probe);
  it('parses roles, tables and the slot', () => {
    expect(s.up).toBe(true);
    expect(s.replVerifier).toBe(V);
    expect(s.publication).toBe(true);
    expect(s.tables.map((t) => `${t.name}:${t.identity}:${t.published}`)).toEqual([
      'notes:false:false',
      'orders:true:true',
      'refunds:true:false',
    ]);
    expect(s.slot).toEqual({ active: true, walStatus: 'reserved', safeBytes: 1000000, retained: 4096 });
    expect(s.lagSec).toBe(0.2);
    expect(parseAnalyticsSource('down').up).toBe(false);
  });
  it('publishes only tables with a replica identity that the subscriber has', () => {
    expect(kinds(repl, s)).toEqual([]);
    expect(kinds({ ...repl, subscribed: ['orders', 'refunds'] }, s)).toEqual(['analytics-publication']);
    const sql = sourceSql({ ...repl, subscribed: ['orders', 'refunds'] }, s);
    expect(sql).toContain('alter publication infra_analytics set table public."orders", public."refunds";');
    expect(sql).toContain('revoke select on public."notes" from infra_analytics;');
    // before the first subscription: every table with a replica identity
    expect(sourceSql({ ...repl, subscribed: undefined }, { ...s, publication: false })).toContain(
      'create publication infra_analytics for table public."orders", public."refunds";',
    );
    expect(noIdentityWarnings(repl, s)[0]).toMatch(
      /^analytics-no-replica-identity: .*public\.notes .*REPLICA IDENTITY FULL/,
    );
  });
  it('the slot as PostgreSQL reports it: wal_status, not a byte count', () => {
    const inactive = {
      ...s,
      slot: { active: false, walStatus: 'extended', safeBytes: 5 * 1024 ** 2, retained: 9e8 },
    };
    const d = diffAnalyticsSource(repl, inactive);
    expect(d.map((c) => c.kind)).toEqual(['analytics-slot-inactive']);
    expect(d[0]!.summary).toMatch(/under the cap \(wal_status extended, 5 MiB more before the cap\)/);
    expect(kinds(repl, { ...s, slot: { ...inactive.slot, walStatus: 'lost', safeBytes: null } })).toEqual([
      'analytics-slot-over-cap',
    ]);
    expect(kinds(repl, { ...s, lagSec: 31 })).toEqual(['analytics-lag']);
    const task = analyticsSourceTask({ apps: [repl], analyticsHost: 'toucan' });
    expect(task.wait!({ xhosa: inactive })).toEqual({ on: 'toucan', run: 'infra apply toucan' });
    expect(task.apply({ xhosa: inactive }, [])).toEqual([]);
  });
  it('direct: a read-only role; another mode leaves nothing behind', () => {
    const direct: AnalyticsSourceWant = { app: 'xhosa', mode: 'direct', verifier: V, lagThresholdSec: 30 };
    const noSlot = { ...s, slot: null };
    expect(kinds(direct, noSlot)).toEqual([
      'analytics-role',
      'analytics-role',
      'analytics-grants',
      'analytics-publication',
    ]);
    const sql = sourceSql(direct, noSlot);
    expect(sql).toContain('drop publication if exists infra_analytics;');
    expect(sql).toContain('drop role if exists infra_analytics;');
    expect(sql).toContain("alter role analytics_ro set statement_timeout = '60s';");
    expect(sql).toContain(
      'alter default privileges for role current_user in schema public grant select on tables to analytics_ro;',
    );
    const done: AnalyticsSourceState = {
      ...noSlot,
      replVerifier: null,
      publication: false,
      roVerifier: V,
      roConfig: RO_CONFIG,
      roDefaultAcl: true,
      tables: s.tables.map((t) => ({ ...t, published: false, roSelect: true })),
    };
    expect(kinds(direct, done)).toEqual([]);
    const none: AnalyticsSourceWant = { app: 'xhosa', mode: 'none', lagThresholdSec: 30 };
    expect(
      kinds(none, { ...done, slot: { active: false, walStatus: 'reserved', safeBytes: 1, retained: 1 } }),
    ).toEqual(['analytics-role', 'analytics-slot']);
    expect(sourceSql(none, done)).toContain('drop role if exists analytics_ro;');
  });
});
