import { describe, expect, it } from 'vitest';
import { diffSubscriber, subscriberSteps } from '../../../src/tasks/analytics-subscriber.js';
import { type Publisher, parseSubscriber } from '../../../src/tasks/analytics-subscriber-state.js';

const P: Publisher = { app: 'my-app', host: 'hornbill', address: '100.64.0.2', port: 15401 };
const base = [
  'up|t',
  'pub|logical|t|reserved',
  'ptable|orders|t|id integer;sku text',
  'db|t',
  'sub|t|t|0|0',
  'stable|orders|t|id integer;sku text',
  'ftable|orders|id integer;sku text',
];
const state = (...lines: string[]) => parseSubscriber(lines.join('\n'));
const kinds = (...lines: string[]) => diffSubscriber(P, state(...lines)).map((c) => c.kind);
const scripts = (...lines: string[]) =>
  subscriberSteps(P, state(...lines))
    .map((s) => `${s.script}\n${s.stdin ?? ''}`)
    .join('\n');

describe('the subscriber of one app on the analytics host', () => {
  it('in sync; waits for the apps host while it cannot be subscribed', () => {
    expect(kinds(...base)).toEqual([]);
    expect(kinds('up|t', 'pub|replica|t|none')).toEqual(['analytics-app-missing']);
    expect(diffSubscriber(P, state('up|t', 'pub|replica|t|none'))[0]!.summary).toMatch(
      /wal_level is replica/,
    );
    expect(kinds('up|t')).toEqual(['analytics-app-missing']);
    expect(kinds('pub|logical|t|none')).toEqual([]); // the instance is down: the stack reports it
  });
  it('first subscription: database, schema copy as infra_analytics, subscription, imports, in that order', () => {
    const s = scripts('up|t', 'pub|logical|t|none', 'ptable|orders|t|id integer');
    const at = (x: string) => s.indexOf(x);
    expect(at('create database "my_app"')).toBeGreaterThanOrEqual(0);
    expect(at('pg_dump')).toBeGreaterThan(at('create database'));
    expect(s).toContain('-t \'public."orders"\'');
    expect(at('create subscription analytics_my_app')).toBeGreaterThan(at('pg_dump'));
    expect(
      at('import foreign schema public limit to ("orders") from server my_app into my_app'),
    ).toBeGreaterThan(at('create subscription'));
    // the password is read on the host, never in the plan
    expect(s).toContain('pw=$(cat /srv/infra/stacks/analytics/replication/my-app.password)');
  });
  it('a new table: schema first (the apps host publishes it next), then a refresh once published', () => {
    const t = [...base, 'ptable|refunds|f|id integer'];
    expect(kinds(...t)).toEqual(['analytics-table-unpublished']);
    expect(scripts(...t)).not.toContain('refresh publication');
    const copied = [
      ...base,
      'ptable|refunds|f|id integer',
      'stable|refunds|f|id integer',
      'ftable|refunds|id integer',
    ];
    expect(kinds(...copied)).toEqual([]); // the apps host's turn (analytics-publication there)
    const published = copied.map((l) => l.replace('ptable|refunds|f', 'ptable|refunds|t'));
    expect(kinds(...published)).toEqual(['analytics-table-unpublished']);
    expect(scripts(...published)).toContain('alter subscription analytics_my_app refresh publication;');
    // published before this host's tables were learned: schema, then the refresh, in one run
    const early = scripts(...base, 'ptable|refunds|t|id integer');
    expect(early.indexOf('pg_dump')).toBeLessThan(early.indexOf('refresh publication'));
  });
  it('a new column: added here first, its foreign table imported again', () => {
    const c = base.map((l) => (l.startsWith('ptable|orders') ? `${l};qty integer` : l));
    expect(kinds(...c)).toEqual(['analytics-schema-differs', 'analytics-schema-differs']);
    const s = scripts(...c);
    expect(s).toContain('alter table public."orders" add column "qty" integer;');
    expect(s).toContain('drop foreign table if exists my_app."orders";');
  });
  it('from nightly: the server moves to the subscriber once every table is copied, the copies go', () => {
    const from = [...base, 'srv|my_app_20261205t023000z', 'copy|my_app_20261205t023000z'];
    expect(kinds(...from)).toEqual(['analytics-app-missing', 'analytics-old-copy']);
    const s = scripts(...from);
    expect(s.indexOf("srsubstate <> 'r'")).toBeLessThan(
      s.indexOf("alter server my_app options (set dbname 'my_app');"),
    );
    expect(s).toContain('drop database if exists "my_app_20261205t023000z"');
    expect(kinds(...base, 'srv|my_app')).toEqual([]);
  });
  it('a lost slot: resynchronised (drop, truncate, subscribe again); a stopped worker reported', () => {
    const lost = base.map((l) => (l.startsWith('pub|') ? 'pub|logical|t|lost' : l));
    expect(kinds(...lost)).toEqual(['analytics-slot-over-cap']);
    const s = scripts(...lost);
    expect(s.indexOf('truncate public."orders"')).toBeLessThan(s.indexOf('create subscription'));
    const stopped = base.map((l) => (l.startsWith('sub|') ? 'sub|t|f|3|0' : l));
    expect(kinds(...stopped)).toEqual(['analytics-subscription-down']);
  });
});
