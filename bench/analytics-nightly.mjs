#!/usr/bin/env node
// The nightly analytics sync (issue 19) on the lab: per app ROWS rows, then one night's work as
// the timers do it, measured:
//
//   node bench/analytics-nightly.mjs [-i inventory] [--rows 100000]
//
// - the dump (infra-pg-backup on the apps host, `infra backup APP`, which also pulls the copy to
//   the control host): what the apps host serves anyway every night;
// - the sync (`systemctl start infra-analytics-sync.service` on the analytics host, what the
//   05:30 timer runs): its wall time for every included app, one after another;
// - the reads on each app's PostgreSQL during each: pg_stat_database's tup_returned (rows
//   scanned), tup_fetched, xact_commit and blks_read+blks_hit of the app's database, before and
//   after, minus what the reading of the statistics itself costs (a before/after pair with nothing
//   in between). The design says the sync reads the apps not at all.
//
// Needs `analytics: {mode: nightly}` in the inventory, applied on the control host (the bench
// says how otherwise). Adds a table `infra_an_bench` of ROWS rows to every included app and drops
// it at the end (the layer keeps its copy until the next sync). Lab only (docker exec).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fail, infraOn, machine, options, print, repo, secs, sh, timed } from './lib.mjs';

const usage = 'node bench/analytics-nightly.mjs [-i inventory] [--rows N]';

const o = options(usage, {
  inventory: { short: 'i', type: 'path', default: path.join(repo, '.infra-e2e/inventory.yaml') },
  rows: { type: 'count', default: '100000' },
});
const infra = infraOn(o.inventory);
const lab = JSON.parse(await readFile(path.join(path.dirname(o.inventory), '.infra/lab/lab.json'), 'utf8'));
const container = (role) => lab.hosts.find((h) => h.role === role)?.container;
const control = container('control');
const apps = container('apps');
if (!control || !apps) fail('the lab has no control or no apps host: run infra lab up first');

const st = await infra('--lab', 'analytics', 'status', '--json');
let status;
try {
  status = JSON.parse(st.stdout);
} catch {
  fail(
    `infra analytics status failed (${st.stderr.trim().split('\n').at(-1)}): add analytics: {mode: nightly} to ${o.inventory} and run infra --lab apply on the control host`,
  );
}
if (status.mode !== 'nightly') fail(`analytics.mode is ${status.mode}: this bench is for nightly`);
const names = status.apps.map((a) => a.app);

const psql = (app, statement) =>
  sh`docker exec -i ${apps} sh -c ${`docker compose -p ${app} -f /srv/infra/apps/${app}/compose.yaml exec -T db psql -U ${app} -d ${app} -X -A -t -q -v ON_ERROR_STOP=1 <<'EOF'\n${statement}\nEOF`}`;
const sql = async (app, statement) => {
  const r = await psql(app, statement);
  if (r.exitCode !== 0) fail(`psql in ${app} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
};
const STATS =
  'select tup_returned, tup_fetched, xact_commit, blks_read + blks_hit from pg_stat_database where datname = current_database()';
// Statistics are flushed at most once a second (PostgreSQL 15+, pgstat_report_stat): wait past it.
const settle = () => new Promise((r) => setTimeout(r, 1500));
const stats = async () => {
  await settle();
  const out = {};
  for (const app of names) out[app] = (await sql(app, STATS)).split('|').map(Number);
  return out;
};
const delta = (a, b) => Object.fromEntries(names.map((app) => [app, b[app].map((v, i) => v - a[app][i])]));
const minus = (d, base) =>
  Object.fromEntries(names.map((app) => [app, d[app].map((v, i) => v - base[app][i])]));

for (const app of names)
  await sql(
    app,
    `drop table if exists infra_an_bench; create table infra_an_bench (id int primary key, note text, at timestamptz default now()); insert into infra_an_bench (id, note) select g, md5(g::text) from generate_series(1, ${o.rows}) g; analyze infra_an_bench;`,
  );
// What reading the statistics costs by itself (two reads, nothing in between).
const probe = delta(await stats(), await stats());
// The apps' own nightly timers may dump during the window (02:30 + up to 30 min, host time):
// a round where any app got a dump that is not ours is measured again (3 rounds at most).
const dumpList = async () =>
  (
    await sh`docker exec ${apps} sh -c ${'ls -1 /var/backups/infra/*/ 2>/dev/null | grep -c "\\.dump$"'}`
  ).stdout.trim();
let dumps;
let s1;
let s2;
let s3;
let s4;
let sync;
let quiet;
for (let round = 1; ; round++) {
  dumps = {};
  s1 = await stats();
  for (const app of names) {
    const b = await timed(() => infra('--lab', 'backup', app));
    if (b.r.exitCode !== 0) fail(`infra backup ${app} failed: ${b.r.stderr.trim()}`);
    dumps[app] = b.ms;
  }
  const before = await dumpList();
  s2 = await stats();
  sync = await timed(() => sh`docker exec ${control} systemctl start infra-analytics-sync.service`);
  if (sync.r.exitCode !== 0) {
    const log = await sh`docker exec ${control} journalctl -u infra-analytics-sync.service -n 5 --no-pager`;
    fail(`the sync failed: ${log.stdout.trim()}`);
  }
  s3 = await stats();
  // A quiet window as long as the sync, nothing run: the apps' own background (autovacuum after
  // the bench's inserts, the statistics reads themselves).
  quiet = await timed(() => new Promise((r) => setTimeout(r, sync.ms)));
  s4 = await stats();
  if ((await dumpList()) === before) break;
  if (round === 3)
    fail(
      'an app was dumped by its own timer during each of 3 rounds: run the bench outside 02:30-03:00 host time',
    );
  process.stderr.write(`round ${round}: an app's nightly dump ran during the sync; measuring again\n`);
}
const dumpReads = minus(delta(s1, s2), probe);
const quietReads = minus(delta(s3, s4), probe);
const syncReads = minus(delta(s2, s3), probe);
const log = (
  await sh`docker exec ${control} journalctl -u infra-analytics-sync.service -n ${names.length * 4} --no-pager -o cat`
).stdout;
const per = names.map((app) => {
  const m = new RegExp(
    `${app}: ${app}-\\d{8}T\\d{6}Z\\.dump restored into \\S+ and swapped in \\((\\d+)s\\)`,
  ).exec(log);
  return `${app} ${m ? `${m[1]} s` : '?'}`;
});
const counts = await infra(
  '--lab',
  'analytics',
  'psql',
  '-c',
  names.map((a) => `select count(*) from ${a.replace(/-/g, '_')}.infra_an_bench`).join(' union all '),
);
for (const app of names) await sql(app, 'drop table infra_an_bench');
const fmt = (r) => `rows scanned ${r[0]}, fetched ${r[1]}, commits ${r[2]}, blocks ${r[3]}`;
print([
  `analytics-nightly: ${names.length} apps (${names.join(', ')}) x ${o.rows} rows, analytics on ${status.host}`,
  `sync (the 05:30 timer's service, all apps one after another): ${secs(sync.ms)} s wall; restore+swap per app: ${per.join(', ')}`,
  `rows seen through analytics_ro after it: ${counts.stdout.trim().split('\n').join(', ')}`,
  ...names.map(
    (app) =>
      `reads on ${app} during the dump (${secs(dumps[app])} s, incl. the pull): ${fmt(dumpReads[app])}`,
  ),
  ...names.map(
    (app) =>
      `reads on ${app} during the sync: ${fmt(syncReads[app])}; in a quiet window as long (${secs(quiet.ms)} s, nothing run): ${fmt(quietReads[app])}`,
  ),
  `load: ${(await sh`cat /proc/loadavg`).stdout.trim()}`,
  await machine(),
]);
