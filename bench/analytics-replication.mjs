#!/usr/bin/env node
// Replication lag of the analytics layer (issue 19) under a steady insert load in every replicated
// app at once, on the lab:
//
//   node bench/analytics-replication.mjs [-i inventory] [--seconds 60] [--rate 20]
//
// Needs `analytics: {mode: replication}` applied (the analytics host, then the apps host with
// --allow-restart; test/e2e/analytics-replication.test.ts does the same). The bench adds a table
// `infra_an_bench` to each replicated app, brings it into the layer the way an operator would
// (`infra apply APPS_HOST` twice: schema copied, then published and the subscription refreshed),
// and measures: each row carries its commit time (clock_timestamp() on the apps host); a watcher
// on the analytics host reads max(i) of each app's copy every 50 ms and notes when each row first
// appears. Lag = that moment minus the commit time (one kernel clock: the lab's hosts are
// containers of one machine). Beside it, pg_stat_replication.replay_lag of each walsender (what
// `infra check` compares with lag_threshold), sampled once a second. The table is dropped on the
// apps and on the analytics host at the end. Lab only (docker exec).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { fail, infraOn, machine, median, options, print, repo, sh } from './lib.mjs';

const usage = 'node bench/analytics-replication.mjs [-i inventory] [--seconds N] [--rate N]';
const o = options(usage, {
  inventory: { short: 'i', type: 'path', default: path.join(repo, '.infra-e2e/inventory.yaml') },
  seconds: { type: 'count', default: '60' },
  rate: { type: 'count', default: '20' },
});
if (o.seconds > 3600 || o.rate > 500) fail('--seconds at most 3600, --rate at most 500');
const inv = parse(await readFile(o.inventory, 'utf8'));
const an = inv.analytics;
if (an?.mode !== 'replication') fail(`${o.inventory} has no analytics: {mode: replication}`);
const apps = an.apps ?? Object.keys(inv.apps);
const lab = JSON.parse(await readFile(path.join(path.dirname(o.inventory), '.infra/lab/lab.json'), 'utf8'));
const containerOf = (host) => lab.hosts.find((h) => h.name === host)?.container;
const anHost = an.host ?? Object.entries(inv.hosts).find(([, h]) => h.role === 'control')[0];
const appsHosts = [...new Set(apps.map((a) => inv.apps[a].host))];
const db = (a) => a.replace(/-/g, '_');
const exec = async (host, script) => {
  const r = await sh`docker exec -i ${containerOf(host)} sh -c ${script}`;
  if (r.exitCode !== 0) fail(`on ${host}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout.trim();
};
const appSql = (app, statement) =>
  exec(
    inv.apps[app].host,
    `docker exec -i ${app}-db-1 psql -U ${app} -d ${app} -X -A -t -q -v ON_ERROR_STOP=1 <<'EOF'\n${statement}\nEOF`,
  );
const AN = 'docker exec -i analytics-db-1 psql -U analytics -X -A -t -q -v ON_ERROR_STOP=1';
const anSql = (dbName, statement) => exec(anHost, `${AN} -d ${dbName} <<'EOF'\n${statement}\nEOF`);
const infra = (...args) => infraOn(o.inventory)('--lab', ...args);

for (const a of apps)
  await appSql(
    a,
    'drop table if exists infra_an_bench; create table infra_an_bench (i int primary key, at float8)',
  );
const t0 = Date.now();
for (let k = 0; k < 2; k++)
  for (const h of appsHosts) {
    const r = await infra('apply', h);
    if (r.exitCode !== 0) fail(`infra apply ${h}: ${r.stdout.slice(-2000)}`);
  }
for (const a of apps) {
  let state = '';
  for (let k = 0; k < 120 && state !== 'r'; k++) {
    state = await anSql(
      db(a),
      "select coalesce((select srsubstate from pg_subscription_rel where srrelid = 'public.infra_an_bench'::regclass), '-')",
    ).catch(() => '-');
    if (state !== 'r') await new Promise((r) => setTimeout(r, 500));
  }
  if (state !== 'r') fail(`${a}: infra_an_bench did not reach the analytics host`);
}
const setup = (Date.now() - t0) / 1000;

const rows = o.rate * o.seconds;
const watch = `end=$(( $(date +%s) + ${o.seconds + 30} ))
while [ "$(date +%s)" -lt "$end" ]; do
${apps.map((a) => `  echo "$(date +%s.%N) ${a} $(${AN} -d ${db(a)} -c 'select coalesce(max(i), 0) from infra_an_bench')"`).join('\n')}
  sleep 0.05
done`;
const seen = Object.fromEntries(apps.map((a) => [a, []]));
const watcher = spawn('docker', ['exec', containerOf(anHost), 'sh', '-c', watch], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let buf = '';
watcher.stdout.on('data', (d) => {
  buf += d;
  const lines = buf.split('\n');
  buf = lines.pop();
  for (const l of lines) {
    const [t, a, n] = l.trim().split(' ');
    if (seen[a] && n) seen[a].push([Number(t), Number(n)]);
  }
});
const watcherDone = new Promise((resolve) => watcher.on('close', resolve));
const loads = apps.map((a) =>
  appSql(
    a,
    `do $$ begin for k in 1..${rows} loop insert into infra_an_bench values (k, extract(epoch from clock_timestamp())); commit; perform pg_sleep(${1 / o.rate}); end loop; end $$;`,
  ),
);
let loading = true;
Promise.all(loads).finally(() => {
  loading = false;
});
const reported = [];
const lagSql =
  "select coalesce(extract(epoch from r.replay_lag)::text, '') from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name like 'analytics\\_%'";
for (let k = 0; loading && k < o.seconds * 3; k++) {
  for (const a of apps) {
    const v = await appSql(a, lagSql);
    if (v) reported.push(Number(v) * 1000);
  }
  await new Promise((r) => setTimeout(r, 1000));
}
await Promise.all(loads);
for (let k = 0; k < 300 && apps.some((a) => !(seen[a].at(-1)?.[1] >= rows)); k++)
  await new Promise((r) => setTimeout(r, 100));
watcher.kill();
await Promise.race([watcherDone, new Promise((r) => setTimeout(r, 2000))]);

const lags = [];
const perApp = [];
for (const a of apps) {
  const committed = new Map(
    (await appSql(a, 'select i, at from infra_an_bench')).split('\n').map((l) => l.split('|').map(Number)),
  );
  const mine = [];
  let j = 0;
  for (let i = 1; i <= rows; i++) {
    while (j < seen[a].length && seen[a][j][1] < i) j++;
    if (j < seen[a].length && committed.has(i)) mine.push((seen[a][j][0] - committed.get(i)) * 1000);
  }
  lags.push(...mine);
  perApp.push(`${a} ${mine.length}/${rows} rows, median ${mine.length ? median(mine).toFixed(0) : '-'} ms`);
}
for (const a of apps) {
  await appSql(a, 'drop table infra_an_bench');
  await anSql(db(a), 'drop table if exists infra_an_bench').catch(() => {});
  await anSql('analytics', `drop foreign table if exists ${db(a)}.infra_an_bench`).catch(() => {});
}
if (lags.length === 0) fail('the watcher saw no row on the analytics host: is the subscription running?');
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)];
const ms = (x) => `${x.toFixed(0)} ms`;
print([
  `analytics-replication: ${apps.length} apps (${apps.join(', ')}), ${rows} rows each at ${o.rate}/s over ${o.seconds} s, one commit each`,
  `new table brought in (apply ${appsHosts.join(', ')} twice, initial copy): ${setup.toFixed(1)} s`,
  `measured (row committed on the app -> visible in the analytics copy; ${lags.length}/${rows * apps.length} rows, watcher every 50 ms): median ${ms(median(lags))}, p99 ${ms(p99(lags))}, max ${ms(Math.max(...lags))}`,
  `per app: ${perApp.join('; ')}`,
  `reported replay_lag (what check compares with lag_threshold; ${reported.length} samples): median ${reported.length ? ms(median(reported)) : '-'}, p99 ${reported.length ? ms(p99(reported)) : '-'}`,
  `load: ${(await sh`cat /proc/loadavg`).stdout.trim()}`,
  await machine(),
]);
