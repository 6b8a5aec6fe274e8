import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { clearAnalytics, infra, onHost, REPO, resetInventory, stepTimer, WORK } from './harness.js';

/**
 * Issue 19's `replication` and `direct` modes on the lab, REAL PostgreSQL: xhosa (16) and
 * beanstock (18) on hornbill, the analytics instance (18) on toucan subscribing over the lab
 * tailnet. The restart for wal_level only with --allow-restart; a cross-app join as analytics_ro;
 * a write refused; a row's trip measured; an app's new table reported and brought in; toucan's
 * instance stopped (the slot holds WAL under its cap, hornbill's check says so); then `direct`,
 * which leaves no slot, publication or replication role behind.
 */
const APPS = ['xhosa', 'beanstock'] as const;
type App = (typeof APPS)[number];
const inventoryWith = (analytics: Record<string, unknown>) => {
  const doc = parseDocument(readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8'));
  doc.set('analytics', doc.createNode(analytics));
  return doc.toString();
};
const NIGHTLY = inventoryWith({ mode: 'nightly', apps: [...APPS] });
const REPLICATION = inventoryWith({ mode: 'replication', apps: [...APPS], lag_threshold: '30s' });
// direct with Metabase's admin: its data sources, one per app, are what direct is for.
const DIRECT = inventoryWith({ mode: 'direct', apps: [...APPS], metabase: { admin_email: 'admin@sgl.as' } });

const lab = (...args: string[]) => infra(['--lab', ...args]);
const ok = async (...args: string[]) => {
  const r = await lab(...args);
  expect(r.code, `${args.join(' ')}:\n${r.all.slice(-3000)}`).toBe(0);
  return r;
};
const appRun = (app: App, statement: string) =>
  onHost(
    'hornbill',
    `docker exec -i ${app}-db-1 psql -X -A -t -q -v ON_ERROR_STOP=1 -U ${app} -d ${app} -c ${JSON.stringify(statement)}`,
  );
/** A statement in the app's PostgreSQL: its output ('' when it failed: polls use it too). */
const appSql = async (app: App, statement: string) => (await appRun(app, statement)).stdout.trim();
/** psql in toucan's analytics instance: as the superuser, or as analytics_ro with its password over TCP. */
const AN = 'docker exec -i analytics-db-1 psql -X -A -t -q -v ON_ERROR_STOP=1';
const anSql = async (db: string, statement: string) =>
  (await onHost('toucan', `${AN} -U analytics -d ${db} -c ${JSON.stringify(statement)}`)).stdout.trim();
/** Each statement its own `-c` (its own transaction: a SET in the same one would come too late). */
const cs = (statements: string[]) => statements.map((x) => `-c ${JSON.stringify(x)}`).join(' ');
const asRo = (...statements: string[]) =>
  onHost(
    'toucan',
    `docker exec -i -e PGPASSWORD="$(cat /srv/infra/stacks/analytics/ro_password)" analytics-db-1 psql -X -A -t -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U analytics_ro -d analytics ${cs(statements)}`,
  );
type Item = { task: string; kind: string; message?: string };
const MINE = /^(pg-hba|pg-settings|pg-restart|analytics)/;
const mine = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as { hosts: Record<string, Item[]>[] }).hosts
    .flatMap((h) => h[key] ?? [])
    .filter((c) => MINE.test(c.task));
/** Every change of a `--json` run (direct's second run: Metabase's sources included). */
const changes = (stdout: string) =>
  (JSON.parse(stdout) as { hosts: { changes?: Item[] }[] }).hosts.flatMap((h) => h.changes ?? []);
const until = async (what: string, f: () => Promise<boolean>, sec: number) => {
  for (let i = 0; i < sec * 2; i++) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${sec} s waiting for ${what}`);
};
const { times, timed } = stepTimer();

/** What infra learned of the analytics layer goes with it (a later file starts without it). */
const forget = () => {
  const file = path.join(WORK, '.infra', 'lab', 'hosts.json');
  if (!existsSync(file)) return;
  const learned = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const facts of Object.values(learned)) {
    delete facts.analyticsVerifiers;
    delete facts.analyticsTables;
    delete facts.analyticsSources;
  }
  writeFileSync(file, `${JSON.stringify(learned, null, 2)}\n`);
};
describe('analytics: replication, then direct', () => {
  beforeAll(async () => {
    resetInventory(NIGHTLY);
    await ok('lab', 'up');
    await clearAnalytics();
    forget();
    // Both apps' PostgreSQL there (an earlier file may have left hornbill with fewer apps).
    await ok('apply', 'hornbill');
    for (const app of APPS) {
      const made = await appRun(
        app,
        `DROP TABLE IF EXISTS an_orders, an_refunds, an_notes; CREATE TABLE an_orders (id int primary key, sku text, at timestamptz default clock_timestamp()); INSERT INTO an_orders (id, sku) SELECT g, '${app}-' || g FROM generate_series(1, 3) g; CREATE TABLE an_notes (body text)`,
      );
      expect(made.code, made.all).toBe(0);
    }
  });

  afterAll(async () => {
    console.log(`analytics-replication timings (s): ${JSON.stringify(times)}`);
    resetInventory();
    await clearAnalytics();
    forget();
    // A subscription the file left (a failed step) keeps a slot on the app: gone with its reader.
    for (const app of APPS)
      await onHost(
        'hornbill',
        `for i in $(seq 1 30); do docker exec ${app}-db-1 psql -U ${app} -d ${app} -XAtc "select count(pg_drop_replication_slot(slot_name)) from pg_replication_slots where slot_name like 'analytics%' and not active; select count(*) from pg_replication_slots where slot_name like 'analytics%'" | tail -1 | grep -qx 0 && break; sleep 2; done`,
      );
    // hornbill without the layer: infra's block back to what the other features use, roles gone;
    // wal_level back to the image's default (a restart each), so later files find the lab as it was.
    await lab('apply', 'hornbill');
    for (const app of APPS) {
      await appSql(app, 'DROP TABLE IF EXISTS an_orders, an_refunds, an_notes');
      await appSql(app, 'ALTER SYSTEM RESET wal_level');
      await onHost(
        'hornbill',
        `cd /srv/infra/apps/${app} && docker compose -p ${app} restart db >/dev/null 2>&1`,
      );
    }
    await until(
      'the apps back',
      async () =>
        (await appSql('beanstock', 'select 1')) === '1' && (await appSql('xhosa', 'select 1')) === '1',
      120,
    );
  });

  it('nightly, then replication: the restart waits for consent; the join works, writes are refused, a row arrives within seconds', async () => {
    // nightly first: each app's dump, pulled to toucan, restored into the analytics instance.
    await timed('nightly: backups and apply toucan', async () => {
      for (const app of APPS) await ok('backup', app);
      await ok('apply', 'toucan');
    });
    expect(
      (
        await asRo('select count(*) from xhosa.an_orders o join beanstock.an_orders b using (id)')
      ).stdout.trim(),
    ).toBe('3');
    const copy = await anSql(
      'analytics',
      "select substr(o, 8) from pg_foreign_server f, unnest(f.srvoptions) o where f.srvname = 'xhosa' and o like 'dbname=%'",
    );
    expect(copy).toMatch(/^xhosa_\d{8}t\d{6}z$/);
    resetInventory(REPLICATION);
    await timed('apply toucan', () => ok('apply', 'toucan'));
    const held = await timed('apply hornbill (no consent)', () => lab('apply', 'hornbill'));
    expect(held.code, held.all.slice(-3000)).toBe(2);
    expect(held.all).toMatch(
      /waiting .*pg-restart:xhosa: waiting for the operator's consent to restart it: run infra apply hornbill --allow-restart/,
    );
    expect(held.all).toMatch(/restart xhosa's PostgreSQL \(wal_level replica → logical/);
    expect(await appSql('xhosa', 'show wal_level')).toBe('replica');
    await timed('apply hornbill --allow-restart', () => ok('apply', 'hornbill', '--allow-restart'));
    // The nightly copy served until the subscription had every row; now the server points at it.
    expect(
      await anSql(
        'analytics',
        "select string_agg(substr(o, 8), ',') from pg_foreign_server f, unnest(f.srvoptions) o where f.srvname = 'xhosa' and o like 'dbname=%'",
      ),
    ).toBe('xhosa');
    expect(
      await anSql('postgres', "select count(*) from pg_database where datname ~ '_[0-9]{8}t[0-9]{6}z$'"),
    ).toBe('0');
    for (const app of APPS) expect(await appSql(app, 'show wal_level')).toBe('logical');
    await until(
      'both subscriptions synced',
      async () =>
        (
          await asRo('select count(*) from xhosa.an_orders o join beanstock.an_orders b using (id)')
        ).stdout.trim() === '3',
      90,
    );
    const join = await asRo(
      "select string_agg(x.sku || '+' || b.sku, ' ' order by x.id) from xhosa.an_orders x join beanstock.an_orders b using (id)",
    );
    expect(join.stdout.trim()).toBe('xhosa-1+beanstock-1 xhosa-2+beanstock-2 xhosa-3+beanstock-3');
    const insert = await asRo("insert into xhosa.an_orders (id, sku) values (99, 'x')");
    expect(insert.code).not.toBe(0);
    expect(insert.all).toMatch(/read-only transaction/);
    const forced = await asRo(
      'set default_transaction_read_only = off',
      "insert into xhosa.an_orders (id, sku) values (99, 'x')",
    );
    expect(forced.all).toMatch(/permission denied/);
    // The table without a replica identity is not published, and check says why.
    expect(
      await appSql(
        'xhosa',
        "select count(*) from pg_publication_tables where pubname = 'infra_analytics' and tablename = 'an_notes'",
      ),
    ).toBe('0');
    const seen = await lab('check', 'hornbill');
    expect(seen.all).toMatch(
      /analytics-no-replica-identity: xhosa's table public\.an_notes .*REPLICA IDENTITY FULL/,
    );

    // A row's trip: inserted on hornbill (its commit time in the row), seen on toucan (polled there).
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const id = 100 + i;
      const poll = onHost(
        'toucan',
        `for n in $(seq 1 600); do r=$(${AN} -U analytics -d xhosa -c "select (extract(epoch from at) * 1000)::bigint from an_orders where id = ${id}"); [ -n "$r" ] && { echo "$(( $(date +%s%3N) - r ))"; exit 0; }; sleep 0.05; done; exit 1`,
      );
      await appSql('xhosa', `insert into an_orders (id, sku) values (${id}, 'trip')`);
      const r = await poll;
      expect(r.code, r.all).toBe(0);
      ms.push(Number(r.stdout.trim()));
    }
    console.log(
      `analytics-replication: a row inserted in xhosa was in the analytics copy after ${ms.join(', ')} ms (polled every 50 ms)`,
    );
    expect(Math.max(...ms)).toBeLessThan(10_000);
  });

  it('an app adds a table: check reports it, apply brings it in, its rows arrive', async () => {
    await appSql(
      'beanstock',
      'CREATE TABLE an_refunds (id int primary key, amount numeric(10,2)); INSERT INTO an_refunds VALUES (1, 4.50), (2, 1.00)',
    );
    await ok('apply', 'hornbill'); // grants SELECT; the follow-up on toucan copies its schema
    const reported = await lab('check', 'hornbill');
    expect(reported.all).toMatch(/publish beanstock's tables an_orders, an_refunds/);
    await timed('apply hornbill (publish, refresh)', () => ok('apply', 'hornbill'));
    await until(
      'an_refunds in the analytics layer',
      async () => (await asRo('select sum(amount) from beanstock.an_refunds')).stdout.trim() === '5.50',
      60,
    );
    await appSql('beanstock', 'ALTER TABLE an_orders ADD COLUMN qty int');
    const differs = await lab('check', 'toucan');
    expect(differs.all).toMatch(/analytics-schema-differs|add beanstock's new columns here: an_orders\.qty/);
    await ok('apply', 'toucan');
    await appSql('beanstock', "INSERT INTO an_orders (id, sku, qty) VALUES (50, 'late', 7)");
    await until(
      'the new column replicated',
      async () => (await asRo('select qty from beanstock.an_orders where id = 50')).stdout.trim() === '7',
      60,
    );
  });

  it("toucan's instance stopped: the slot holds WAL under its cap and hornbill's check says so; then it catches up", async () => {
    await onHost('toucan', 'docker stop -t 5 analytics-db-1 >/dev/null');
    await appSql(
      'xhosa',
      "insert into an_orders (id, sku) select g, 'away' from generate_series(1000, 2000) g",
    );
    await until(
      'the walsender gone',
      async () =>
        (await appSql(
          'xhosa',
          "select active from pg_replication_slots where slot_name = 'analytics_xhosa'",
        )) === 'f',
      60,
    );
    const away = await lab('check', 'hornbill');
    expect(away.code).toBe(2);
    expect(away.all).toMatch(
      /the analytics host is not reading xhosa's slot analytics_xhosa: \d+ MiB held, under the cap \(wal_status reserved, \d+ MiB more before the cap\)/,
    );
    expect(
      await appSql(
        'xhosa',
        "select wal_status from pg_replication_slots where slot_name = 'analytics_xhosa'",
      ),
    ).toBe('reserved');
    await onHost('toucan', 'docker start analytics-db-1 >/dev/null');
    const want = await appSql('xhosa', 'select count(*) from an_orders');
    await until(
      'caught up',
      async () => (await asRo('select count(*) from xhosa.an_orders')).stdout.trim() === want,
      120,
    );
  });

  it('converged: a second run changes nothing', async () => {
    for (const h of ['toucan', 'hornbill']) {
      const again = await lab('apply', h, '--json');
      expect(again.code, again.all.slice(-2000)).toBe(0);
      expect(mine(again.stdout, 'changes'), h).toEqual([]);
    }
  });

  it('direct: nothing of replication left; analytics_ro reads each app from toucan only and writes nothing', async () => {
    resetInventory(DIRECT);
    await timed('apply toucan, hornbill (direct)', async () => {
      // toucan first: Metabase would refuse a source whose app has no analytics_ro yet (it connects
      // when one is added), so the sources wait for hornbill; hornbill's run makes the roles and
      // ends with their registration on toucan (the follow-up): two commands, no third.
      const first = await lab('apply', 'toucan');
      expect(first.code, first.all.slice(-3000)).toBe(2);
      expect(first.stdout).toMatch(
        /waiting\s+stack:analytics:metabase-sources: waiting for hornbill: run infra apply hornbill/,
      );
      await ok('apply', 'hornbill');
    });
    for (const app of APPS) {
      expect(
        await appSql(app, "select count(*) from pg_replication_slots where slot_name like 'analytics%'"),
      ).toBe('0');
      expect(await appSql(app, 'select count(*) from pg_publication')).toBe('0');
      expect(
        await appSql(
          app,
          "select string_agg(rolname, ',' order by rolname) from pg_roles where rolname in ('infra_analytics', 'analytics_ro')",
        ),
      ).toBe('analytics_ro');
    }
    expect(await anSql('postgres', 'select count(*) from pg_subscription')).toBe('0');
    const port = (await onHost('hornbill', 'docker port xhosa-db-1 5432 | head -1')).stdout.trim();
    const direct = (...sql: string[]) =>
      onHost(
        'toucan',
        `docker exec -i -e PGPASSWORD="$(cat /srv/infra/stacks/analytics/ro_password)" analytics-db-1 psql -X -A -t -q -v ON_ERROR_STOP=1 "host=${port.split(':')[0]} port=${port.split(':')[1]} dbname=xhosa user=analytics_ro" ${cs(sql)}`,
      );
    // Metabase's sources, read through its API as the admin (the stand-in keeps their details
    // encrypted with MB_ENCRYPTION_SECRET_KEY, as Metabase does); each was added only after the
    // stand-in connected to it for real as analytics_ro over the tailnet.
    const listed = await onHost(
      'toucan',
      `sid=$(printf '{"username":"%s","password":"%s"}' admin@sgl.as "$(cat /srv/infra/stacks/analytics/metabase_admin_password)" | curl -s -X POST -H 'content-type: application/json' --data-binary @- http://127.0.0.1:3030/api/session | sed -n 's/.*"id": *"\\([^"]*\\)".*/\\1/p')
curl -s -H "X-Metabase-Session: $sid" http://127.0.0.1:3030/api/database`,
    );
    type Source = { name: string; details: { host: string; port: number; dbname: string; user: string } };
    const sources = (JSON.parse(listed.stdout) as { data: Source[] }).data
      .map((d) => `${d.name} ${d.details.user}@${d.details.host}:${d.details.port}/${d.details.dbname}`)
      .sort();
    const published = async (app: App) =>
      (await onHost('hornbill', `docker port ${app}-db-1 5432 | head -1`)).stdout.trim();
    expect(sources).toEqual([
      `beanstock analytics_ro@${await published('beanstock')}/beanstock`,
      `xhosa analytics_ro@${port}/xhosa`,
    ]);
    expect((await direct('select count(*) from an_orders')).stdout.trim()).toBe(
      await appSql('xhosa', 'select count(*) from an_orders'),
    );
    const write = await direct(
      'set default_transaction_read_only = off',
      "insert into an_orders (id, sku) values (7777, 'no')",
    );
    expect(write.all).toMatch(/permission denied/);
    const fromApps = await onHost(
      'hornbill',
      `docker exec -e PGPASSWORD=x xhosa-db-1 psql "host=127.0.0.1 dbname=xhosa user=analytics_ro" -c 'select 1'`,
    );
    expect(fromApps.all).toMatch(/pg_hba\.conf rejects/);
    for (const h of ['toucan', 'hornbill']) {
      const again = await lab('apply', h, '--json');
      expect(again.code, again.all.slice(-2000)).toBe(0);
      expect(mine(again.stdout, 'changes'), h).toEqual([]);
      expect(changes(again.stdout), h).toEqual([]);
    }
  });
});
