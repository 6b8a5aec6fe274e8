import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clearAnalytics,
  containerOf,
  ensureLab,
  infra,
  onHost,
  REPO,
  resetInventory,
  stepTimer,
} from './harness.js';

/**
 * Issue 19, mode nightly, on the lab with REAL PostgreSQL: beanstock (18) and docflow (17) on
 * hornbill, their dumps copied to toucan by the off-host pull, restored into toucan's analytics
 * instance (18) and joined through postgres_fdw as the read-only role. Runs after the scenarios
 * that bootstrap both hosts (vitest.config.ts ranks test/e2e/analytics-* after the others); its
 * bootstraps here are re-runs. Leaves toucan without the analytics layer and the inventory reset.
 */
const REPO_INVENTORY = readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8');
const analyticsKey = (apps: string[]) => `
analytics:
  mode: nightly
  apps: [${apps.join(', ')}]
`;
const WITH = `${REPO_INVENTORY}${analyticsKey(['beanstock', 'docflow'])}`;
const lab = (...args: string[]) => infra(['--lab', ...args]);
const { times, timed } = stepTimer();

const appSql = async (app: string, statement: string) => {
  const r = await lab('db', 'psql', app, '-c', statement);
  expect(r.code, r.all).toBe(0);
  return r.stdout.trim();
};
/** What analysts run: `infra analytics psql -c` (analytics_ro in `analytics`). */
const ro = (statement: string) => lab('analytics', 'psql', '-c', statement);
const JOIN =
  "SELECT string_agg(o.id || ':' || o.sku || ':' || o.qty || ':' || s.on_hand, ' ' ORDER BY o.id) FROM docflow.an_orders o JOIN beanstock.an_stock s USING (sku)";

/** This tasks on toucan. */
const MINE =
  /^(analytics|stack:analytics|file:\/usr\/local\/sbin\/infra-analytics|file:\/etc\/infra\/analytics|file:\/etc\/systemd\/system\/infra-analytics|service:infra-analytics)/;
type Item = { task: string; kind: string; message: string };
const mine = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as { hosts: { changes: Item[]; findings: Item[] }[] }).hosts
    .flatMap((h) => h[key])
    .filter((c) => MINE.test(c.task));

describe('analytics, mode nightly: the apps joined in one SQL statement, read-only', () => {
  afterAll(async () => {
    await clearAnalytics();
    // The apps' test tables go too (their dumps stay, as every backup test's do).
    await lab('db', 'psql', 'beanstock', '-c', 'DROP TABLE IF EXISTS an_stock');
    await lab('db', 'psql', 'docflow', '-c', 'DROP TABLE IF EXISTS an_orders');
    resetInventory();
    console.log(`analytics-nightly steps (s): ${JSON.stringify(times)}`);
  });

  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    await clearAnalytics();
    await timed('bootstrap re-runs', async () => {
      // toucan first (its pull key is learned), then hornbill (which authorizes it).
      for (const h of ['toucan', 'hornbill']) {
        const r = await lab('bootstrap', h);
        expect(r.code, r.all.slice(-3000)).toBe(0);
      }
    });
    await appSql(
      'beanstock',
      "DROP TABLE IF EXISTS an_stock; CREATE TABLE an_stock (sku text PRIMARY KEY, on_hand int NOT NULL); INSERT INTO an_stock VALUES ('bean-a', 100), ('bean-b', 7)",
    );
    await appSql(
      'docflow',
      "DROP TABLE IF EXISTS an_orders; CREATE TABLE an_orders (id int PRIMARY KEY, sku text NOT NULL, qty int NOT NULL); INSERT INTO an_orders VALUES (1, 'bean-a', 3), (2, 'bean-b', 5)",
    );
    // Tonight's dumps, copied to toucan now (what the 02:30 dump and the 04:30 pull make).
    await timed('backups', async () => {
      for (const app of ['beanstock', 'docflow']) {
        const b = await lab('backup', app);
        expect(b.code, b.all).toBe(0);
      }
    });
    resetInventory(WITH);
  });

  it('one apply builds the layer and serves both apps: a cross-app join as analytics_ro; writes refused', async () => {
    const a = await timed('first apply', () => lab('apply', 'toucan', '--json'));
    expect(a.code, a.stdout.slice(-3000)).toBe(0);
    const kinds = mine(a.stdout, 'changes').map((c) => c.kind);
    expect(kinds.filter((k) => k === 'analytics-app-missing').length).toBe(4); // server + copy per app
    const join = await ro(JOIN);
    expect(join.stdout, join.all).toBe('1:bean-a:3:100 2:bean-b:5:7');
    // Refused by the role's read-only default, then by privileges once it turns that off itself.
    const insert = await ro("INSERT INTO beanstock.an_stock VALUES ('x', 1)");
    expect(insert.code).toBe(1);
    expect(insert.stderr).toMatch(/cannot execute INSERT in a read-only transaction/);
    const rw = await ro("BEGIN READ WRITE; INSERT INTO beanstock.an_stock VALUES ('x', 1); COMMIT");
    expect(rw.stderr).toMatch(/permission denied for foreign table an_stock/);
    // The copies' databases are the fdw role's only; the passwords never show.
    const direct = await onHost(
      'toucan',
      'cd /srv/infra/stacks/analytics && d=$(docker compose -p analytics exec -T db psql -U analytics -d analytics -XAtc "select datname from pg_database where datname like \'beanstock_%\'") && PGPASSWORD="$(cat ro_password)" docker compose -p analytics exec -T -e PGPASSWORD db psql -h 127.0.0.1 -U analytics_ro -d "$d" -c "select 1"',
    );
    expect(direct.stderr).toMatch(/permission denied for database "beanstock_\d{8}t\d{6}z"/);
    const st = await onHost('toucan', 'stat -c "%a %n" /srv/infra/stacks/analytics/*_password');
    // Three of the instance's, and Metabase's two (roles/analytics-metabase.ts): every one 0600.
    const modes = st.stdout.split('\n').map((l) => l.split(' ')[0]);
    expect(modes.length, st.stdout).toBe(5);
    expect(
      modes.every((m) => m === '600'),
      st.stdout,
    ).toBe(true);
  });

  it('a second apply changes nothing, check finds nothing; the timer is at 05:30, persistent', async () => {
    const again = await timed('second apply', () => lab('apply', 'toucan', '--json'));
    expect(mine(again.stdout, 'changes')).toEqual([]);
    const c = await lab('check', 'toucan', '--json');
    expect(mine(c.stdout, 'findings')).toEqual([]);
    const t = await onHost(
      'toucan',
      'systemctl is-enabled infra-analytics-sync.timer; systemctl show -p TimersCalendar -p Persistent --value infra-analytics-sync.timer',
    );
    expect(t.stdout).toMatch(/^enabled\n.*05:30:00.*\nyes$/s);
  });

  it('rows changed in an app appear after infra analytics sync; a transaction open across it keeps one copy', async () => {
    await appSql(
      'beanstock',
      "UPDATE an_stock SET on_hand = 50 WHERE sku = 'bean-a'; INSERT INTO an_stock VALUES ('bean-c', 1)",
    );
    const opts = (
      await onHost(
        'toucan',
        `cd /srv/infra/stacks/analytics && docker compose -p analytics exec -T db psql -U analytics -d analytics -XAtc "select array_to_string(srvoptions, ',') from pg_foreign_server where srvname = 'beanstock'"`,
      )
    ).stdout;
    expect(opts).toMatch(/dbname=beanstock_\d{8}t\d{6}z/);
    // T1, as analytics_ro in the analytics container: reads, waits (in its transaction) until the
    // server points elsewhere, reads again, commits, reads in its next transaction.
    const session = `\\set ON_ERROR_STOP 1
BEGIN;
SELECT 'before', count(*), sum(on_hand) FROM beanstock.an_stock;
DO $$ DECLARE i int := 0; BEGIN WHILE (SELECT array_to_string(srvoptions, ',') FROM pg_foreign_server WHERE srvname = 'beanstock') = '${opts}' AND i < 900 LOOP PERFORM pg_sleep(0.2); i := i + 1; END LOOP; END $$;
SELECT 'during', count(*), sum(on_hand) FROM beanstock.an_stock;
SELECT pg_sleep(15);
COMMIT;
SELECT 'after', count(*), sum(on_hand) FROM beanstock.an_stock;
`;
    const t1 = execa(
      'docker',
      [
        'exec',
        '-i',
        containerOf('toucan'),
        'sh',
        '-c',
        'cd /srv/infra/stacks/analytics && PGPASSWORD="$(cat ro_password)" docker compose -p analytics exec -T -e PGPASSWORD db psql -h 127.0.0.1 -U analytics_ro -d analytics -XAtq -F " "',
      ],
      { input: session, reject: false, all: true },
    );
    // The sync starts once the session has read the old copy (psql flushes after each query).
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`T1 printed no 'before' line: ${seen}`)), 120_000);
      t1.stdout!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/^before /m.test(seen)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const s = await timed('infra analytics sync beanstock', () => lab('analytics', 'sync', 'beanstock'));
    expect(s.code, s.all).toBe(0);
    expect(s.stdout).toMatch(
      /toucan: beanstock: beanstock-\d{8}T\d{6}Z\.dump restored into beanstock_\d{8}t\d{6}z and swapped in/,
    );
    // T1's transaction (it sleeps 15 s after its second read) still holds the previous copy: the
    // sync's DROP DATABASE (no FORCE) gives up after its 5 s wait and the copy is kept for now.
    expect(s.stdout).toMatch(
      /toucan: beanstock: kept beanstock_\d{8}t\d{6}z: .*being accessed by other users/,
    );
    const out = await t1;
    expect(out.exitCode, out.all).toBe(0);
    expect(out.stdout.split('\n').filter(Boolean)).toEqual(['before 2 107', 'during 2 107', 'after 3 58']);
    expect((await ro(JOIN)).stdout).toBe('1:bean-a:3:50 2:bean-b:5:7');
    // The copy it kept is found by check and dropped by apply, now that nobody reads it.
    const c = await lab('check', 'toucan', '--json');
    expect(mine(c.stdout, 'findings').map((f) => f.kind)).toEqual(['analytics-old-copy']);
    const fix = await lab('apply', 'toucan', '--json');
    expect(mine(fix.stdout, 'changes').map((f) => f.kind)).toEqual(['analytics-old-copy']);
    expect(mine((await lab('check', 'toucan', '--json')).stdout, 'findings')).toEqual([]);
  });

  it('a stale sync and a failed one (a corrupt copy) are findings apply fixes; the previous copy serves meanwhile', async () => {
    await onHost(
      'toucan',
      'f=/var/lib/infra-analytics/docflow.synced; read s h t < $f; echo "$s $h $((t - 27 * 3600))" > $f',
    );
    const stale = await lab('check', 'toucan', '--json');
    expect(stale.code).toBe(2);
    expect(mine(stale.stdout, 'findings').map((f) => f.kind)).toEqual(['analytics-sync-stale']);
    expect(mine((await lab('apply', 'toucan', '--json')).stdout, 'changes').map((f) => f.kind)).toEqual([
      'analytics-sync-stale',
    ]);
    // A new dump whose copy on toucan is damaged after its checksum was written (a bad disk).
    // ... which also changes a table's columns: the swap replaces that foreign table.
    await appSql(
      'docflow',
      "INSERT INTO an_orders VALUES (3, 'bean-c', 9); ALTER TABLE an_orders ADD COLUMN note text DEFAULT 'new'",
    );
    const b = await lab('backup', 'docflow');
    expect(b.code, b.all).toBe(0);
    const name = /(docflow-\d{8}T\d{6}Z\.dump)/.exec(b.stdout)![1]!;
    const copy = `/var/backups/infra-copies/docflow/${name}`;
    const size = (await onHost('toucan', `stat -c %s ${copy}`)).stdout;
    await onHost('toucan', `printf garbage >> ${copy}`);
    const timer = await onHost('toucan', 'systemctl start infra-analytics-sync.service');
    expect(timer.code).not.toBe(0);
    const failed = await lab('check', 'toucan', '--json');
    const f = mine(failed.stdout, 'findings');
    expect(f.map((x) => x.kind)).toEqual(['analytics-sync-failed']);
    expect(f[0]!.message).toMatch(/fails its sha256.*docflow_\d{8}t\d{6}z still serves/);
    expect((await ro(JOIN)).stdout).toBe('1:bean-a:3:50 2:bean-b:5:7');
    // The disk fixed (the copy's own bytes back): apply syncs it and the new order joins.
    await onHost('toucan', `truncate -s ${size} ${copy}`);
    const fix = await lab('apply', 'toucan', '--json');
    expect(mine(fix.stdout, 'changes').map((x) => x.kind)).toEqual(['analytics-sync-failed']);
    expect((await ro(JOIN)).stdout).toBe('1:bean-a:3:50 2:bean-b:5:7 3:bean-c:9:1');
    expect((await ro('SELECT note FROM docflow.an_orders WHERE id = 3')).stdout).toBe('new');
    expect(mine((await lab('apply', 'toucan', '--json')).stdout, 'changes')).toEqual([]);
  });

  it('an app taken out of analytics.apps is an orphan: reported, its data kept until infra analytics drop', async () => {
    resetInventory(`${REPO_INVENTORY}${analyticsKey(['beanstock'])}`);
    const apply = await lab('apply', 'toucan', '--json');
    expect(apply.code).toBe(2); // waiting for the operator: nothing removed
    expect(mine(apply.stdout, 'changes').map((f) => f.task)).toEqual(['file:/etc/infra/analytics/apps.conf']);
    const c = await lab('check', 'toucan', '--json');
    // Waiting for the operator (exit 2), never applied: removing data is an explicit step.
    expect(c.code).toBe(2);
    expect(mine(c.stdout, 'findings').map((f) => [f.task, f.kind, f.message])).toEqual([
      [
        'analytics:orphans',
        'waiting',
        'waiting for the operator: run infra analytics drop docflow --yes (on toucan)',
      ],
    ]);
    const human = await lab('check', 'toucan');
    expect(human.stdout).toContain(
      'docflow is in the analytics layer but not in analytics.apps: its data is kept (remove it: infra analytics drop docflow --yes)',
    );
    expect((await ro('SELECT count(*) FROM docflow.an_orders')).stdout).toBe('3');
    const d = await lab('analytics', 'drop', 'docflow', '--yes');
    expect(d.code, d.all).toBe(0);
    expect((await ro('SELECT count(*) FROM docflow.an_orders')).stderr).toMatch(
      /relation "docflow.an_orders" does not exist/,
    );
    expect(mine((await lab('check', 'toucan', '--json')).stdout, 'findings')).toEqual([]);
    const left = await onHost(
      'toucan',
      'cd /srv/infra/stacks/analytics && docker compose -p analytics exec -T db psql -U analytics -d analytics -XAtc "select count(*) from pg_database where datname like \'docflow%\'"',
    );
    expect(left.stdout).toBe('0');
  });
});
