#!/usr/bin/env node
// WAL lag at the control host for one app under a steady insert load (issue 18), two ways side by
// side in one run on the lab:
//
//   node bench/pitr-lag.mjs [-i inventory] [--app beanstock] [--seconds 60] [--rate 20]
//
// - measured: each inserted row carries a marker (`infra-lag-RUN-I`); a watcher on the control
//   host reads the receiver's open `.partial` segment (only the bytes past the last marker found)
//   every 50 ms and notes when each marker first appears. Lag = that moment minus the row's
//   clock_timestamp() on the apps host (one kernel clock: the lab's hosts are containers of one
//   machine). WAL arrives in order, so a marker seen means every earlier row arrived too.
// - reported: pg_stat_replication.write_lag / flush_lag of the receiver, what `infra check`
//   compares with its 60 s limit (wal-stream-lag), sampled once a second, and the bytes not yet
//   written on the control host (pg_current_wal_lsn() - write_lsn).
//
// The load is one DO block on the apps host: an INSERT and a COMMIT, then pg_sleep(1/rate), for
// rate x seconds rows (bounded). Needs the app streaming (`pitr: true`, applied on the control
// host, the apps host, the control host; test/e2e/pitr-control-down.test.ts does the same setup).
// Leaves nothing behind but WAL: its table is dropped at the end. Lab only (docker exec).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fail, machine, median, options, print, repo, sh } from './lib.mjs';

const usage = 'node bench/pitr-lag.mjs [-i inventory] [--app NAME] [--seconds N] [--rate N]';
const o = options(usage, {
  inventory: { short: 'i', type: 'path', default: path.join(repo, '.infra-e2e/inventory.yaml') },
  app: { type: 'string', default: 'beanstock' },
  seconds: { type: 'count', default: '60' },
  rate: { type: 'count', default: '20' },
});
if (!/^[a-z][a-z0-9-]*$/.test(o.app)) fail(`--app: expected an app name, got ${o.app}`);
if (o.seconds > 3600 || o.rate > 500) fail('--seconds at most 3600, --rate at most 500');
const lab = JSON.parse(await readFile(path.join(path.dirname(o.inventory), '.infra/lab/lab.json'), 'utf8'));
const container = (role) => lab.hosts.find((h) => h.role === role)?.container;
const control = container('control');
const apps = container('apps');
if (!control || !apps) fail('the lab has no control or no apps host: run infra lab up first');
const wal = `/var/backups/infra-pitr/${o.app}/wal`;
const psql = `docker compose -p ${o.app} -f /srv/infra/apps/${o.app}/compose.yaml exec -T db psql -U ${o.app} -d ${o.app} -X -A -t -q -v ON_ERROR_STOP=1`;
const sql = async (statement) => {
  const r = await sh`docker exec -i ${apps} sh -c ${`${psql} <<'EOF'\n${statement}\nEOF`}`;
  if (r.exitCode !== 0) fail(`psql on the apps host failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
};

const active = await sql(
  "select count(*) from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = 'infra_pitr'",
);
if (active !== '1')
  fail(
    `${o.app} does not stream to the control host (no active slot infra_pitr): set pitr: true, then infra --lab apply on the control host, the apps host, the control host`,
  );

const run = Date.now().toString(36);
const mark = `infra-lag-${run}-`;
const rows = o.rate * o.seconds;
await sql('create table if not exists infra_lag_bench (i int, mark text, at float8)');

// The watcher: one shell loop on the control host, bounded by the run's length plus 20 s.
const watch = `end=$(( $(date +%s) + ${o.seconds + 20} )); f=''; off=0
while [ "$(date +%s)" -lt "$end" ]; do
  n=$(ls -1 ${wal} | grep -E '^[0-9A-F]{24}[.]partial$' | tail -n 1)
  [ "$n" = "$f" ] || { f=$n; off=0; }
  if [ -n "$f" ]; then
    r=$(tail -c +$((off + 1)) ${wal}/"$f" 2>/dev/null | head -c 4194304 | grep -abo '${mark}[0-9]*' | tail -n 1)
    if [ -n "$r" ]; then echo "$(date +%s.%N) \${r#*:}"; off=$((off + \${r%%:*})); fi
  fi
  sleep 0.05
done`;
const seen = []; // [epoch seconds, highest marker index seen]
const watcher = spawn('docker', ['exec', control, 'sh', '-c', watch], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let buf = '';
watcher.stdout.on('data', (d) => {
  buf += d;
  const lines = buf.split('\n');
  buf = lines.pop();
  for (const l of lines) {
    const m = new RegExp(`^(\\d+\\.\\d+) ${mark}(\\d+)$`).exec(l.trim());
    if (m) seen.push([Number(m[1]), Number(m[2])]);
  }
});
const watcherDone = new Promise((resolve) => watcher.on('close', resolve));

// The load, and PostgreSQL's own view of the lag once a second beside it.
const load = sql(`do $$ begin
  for k in 1..${rows} loop
    insert into infra_lag_bench values (k, '${mark}' || k, extract(epoch from clock_timestamp()));
    commit;
    perform pg_sleep(${1 / o.rate});
  end loop;
end $$;`);
let loading = true;
load.finally(() => {
  loading = false;
});
const reported = [];
for (let k = 0; loading && k < o.seconds * 3; k++) {
  const line = await sql(
    "select coalesce(extract(epoch from r.write_lag)::text, ''), coalesce(extract(epoch from r.flush_lag)::text, ''), (pg_current_wal_lsn() - r.write_lsn)::bigint from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = 'infra_pitr'",
  );
  const [w, f, bytes] = line.split('|');
  if (line)
    reported.push({
      write: w === '' ? null : Number(w),
      flush: f === '' ? null : Number(f),
      bytes: Number(bytes),
    });
  await new Promise((r) => setTimeout(r, 1000));
}
await load;
// The last rows: give the watcher up to 20 s to see the final marker, then stop it.
for (let k = 0; k < 200 && !(seen.at(-1)?.[1] >= rows); k++) await new Promise((r) => setTimeout(r, 100));
// The loop on the control host ends by itself (its own deadline); this ends our side of it.
watcher.kill();
await Promise.race([watcherDone, new Promise((r) => setTimeout(r, 2000))]);

const committed = new Map(
  (await sql(`select i, at from infra_lag_bench where mark like '${mark}%'`))
    .split('\n')
    .map((l) => l.split('|').map(Number)),
);
await sql('drop table infra_lag_bench');
// Each row's arrival: the first watcher line whose highest marker is at least its index.
const lags = [];
let j = 0;
for (let i = 1; i <= rows; i++) {
  while (j < seen.length && seen[j][1] < i) j++;
  if (j < seen.length && committed.has(i)) lags.push((seen[j][0] - committed.get(i)) * 1000);
}
if (lags.length === 0) fail('the watcher saw no marker on the control host: is the receiver running?');
const p99 = (xs) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.99) - 1)];
const ms = (x) => `${x.toFixed(0)} ms`;
const of = (key) => reported.map((r) => r[key]).filter((x) => x !== null && !Number.isNaN(x));
const w = of('write').map((s) => s * 1000);
const f = of('flush').map((s) => s * 1000);
const b = of('bytes');
print([
  `pitr-lag: ${o.app}, ${rows} rows at ${o.rate}/s over ${o.seconds} s, one commit each`,
  `measured (row committed on the apps host -> its bytes in the control host's archive; ${lags.length}/${rows} rows, watcher every 50 ms): median ${ms(median(lags))}, p99 ${ms(p99(lags))}, max ${ms(Math.max(...lags))}`,
  `reported write_lag (what check compares with 60 s; ${w.length} samples): median ${w.length ? ms(median(w)) : '-'}, p99 ${w.length ? ms(p99(w)) : '-'}`,
  `reported flush_lag (${f.length} samples): median ${f.length ? ms(median(f)) : '-'}, p99 ${f.length ? ms(p99(f)) : '-'}`,
  `bytes not yet written on the control host (${b.length} samples): median ${b.length ? median(b) : '-'}, p99 ${b.length ? p99(b) : '-'}`,
  `load: ${(await sh`cat /proc/loadavg`).stdout.trim()}`,
  await machine(),
]);
