#!/usr/bin/env node
// Benchmark (not a test): does `infra check` scale with hosts run in parallel? Brings up N lab
// hosts (default 20) from a generated inventory in .infra-bench/, then times `check` over 2 of
// them and over all N, interleaved, median of R runs each. Target: N hosts < 3x the 2-host time.
// The hosts are fresh (not bootstrapped), so check reports drift: what is timed is the probe path
// (connect, one batched probe round trip per host, diff), the same whatever the verdict.
//
//   node bench/check-scaling.mjs [-n hosts] [-r runs] [--keep]
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { cores, fail, infraOn, interleaved, machine, options, print, repo, secs, sh, timed } from './lib.mjs';

const {
  hosts: n,
  runs,
  keep,
} = options('node bench/check-scaling.mjs [-n hosts] [-r runs] [--keep]', {
  hosts: { short: 'n', type: 'count', default: '20' },
  runs: { short: 'r', type: 'count', default: '5' },
  keep: { type: 'boolean' },
});
const dir = path.join(repo, '.infra-bench');
const inventory = path.join(dir, 'inventory.yaml');

// The repository's inventory with its hosts replaced by N plain hosts (bench-01 is the control).
const doc = parseDocument(await readFile(path.join(repo, 'inventory.yaml'), 'utf8'));
const names = Array.from({ length: n }, (_, i) => `bench-${String(i + 1).padStart(2, '0')}`);
doc.set(
  'hosts',
  Object.fromEntries(names.map((h, i) => [h, { role: i === 0 ? 'control' : 'apps', address: '127.0.0.1' }])),
);
doc.set('apps', {});
await mkdir(dir, { recursive: true });
await writeFile(inventory, String(doc));

const infra = infraOn(inventory);
const up = await infra('lab', 'up');
if (up.exitCode !== 0) fail(`lab up failed:\n${up.stderr}`);

const check = async (...hosts) => {
  const r = await infra('--lab', 'check', '--json', ...hosts);
  if (![0, 2].includes(r.exitCode)) fail(`check failed (exit ${r.exitCode}):\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
};
const two = () => check(...names.slice(0, 2));
await two();
await check();
const { two: t, all } = await interleaved(runs, { two, all: () => check() });
const execs = new Set(all.last.hosts.map((h) => `${h.stats.connections}/${h.stats.execs}`));

// Where the CPU of one all-hosts check goes: infra's own process, and the lab hosts (their
// sshd, shells and probes), which share this machine's cores with it. Read from the hosts'
// cgroups (v1 cpuacct or v2 cpu.stat) and from this process's reaped children.
const cgroupCpuMs = async (id) => {
  for (const [file, parse] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (t) => Number(t) / 1e6],
    [
      `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`,
      (t) => Number(/usage_usec (\d+)/.exec(t)[1]) / 1e3,
    ],
  ])
    if (existsSync(file)) return parse(await readFile(file, 'utf8'));
  return Number.NaN;
};
const childCpuMs = async () => {
  const f = (await readFile('/proc/self/stat', 'utf8')).split(') ')[1].split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime + cstime, at USER_HZ 100
};
// Container names are scoped to the lab (infra-lab-<lab id>-<host>): read them from its state.
const labDir = path.join(dir, '.infra/lab');
const lab = JSON.parse(await readFile(path.join(labDir, 'lab.json'), 'utf8'));
const ids = [];
for (const h of lab.hosts) {
  const r = await sh`docker inspect -f ${'{{.Id}}'} ${h.container}`;
  if (r.exitCode !== 0) fail(`docker inspect ${h.container} failed:\n${r.stderr}`);
  ids.push(r.stdout.trim());
}
const cpuMs = async () => (await Promise.all(ids.map(cgroupCpuMs))).reduce((sum, v) => sum + v, 0);
const hostsBefore = await cpuMs();
const clientBefore = await childCpuMs();
const probeRun = await timed(() => check());
const clientMs = (await childCpuMs()) - clientBefore;
const hostsMs = (await cpuMs()) - hostsBefore;
const cpus = await cores();
print([
  `infra check scaling, median of ${runs} interleaved runs each (fresh lab hosts)`,
  `  2 hosts:  ${secs(t.median)}s`,
  `  ${n} hosts: ${secs(all.median)}s   (${(all.median / t.median).toFixed(2)}x the 2-host time; connections/round trips per host: ${[...execs].join(', ')})`,
  `  one ${n}-host check (${secs(probeRun.ms)}s) used ${secs(clientMs)} CPU-s in infra and ${secs(hostsMs)} CPU-s in the lab hosts (${Math.round(hostsMs / n)} ms each):`,
  `  on ${cpus} cores that alone takes at least ${secs((clientMs + hostsMs) / cpus)}s`,
  await machine(),
]);

if (!keep) {
  // Remove only this benchmark's hosts (labelled with its lab directory), never other labs'.
  const mine = (await sh`docker ps -aq --filter ${`label=infra.lab.state=${labDir}`}`).stdout
    .split('\n')
    .filter(Boolean);
  // One at a time: twenty force-removals at once left stale endpoints on the lab network here
  // (dockerd 26), which then refused `network rm` until the daemon restarted.
  for (const id of mine) {
    const rm = await sh`docker rm -f -v ${id}`;
    if (rm.exitCode !== 0) fail(`docker rm ${id} failed:\n${rm.stderr}`);
  }
  // Then the rest of this lab only (its volumes, tailnet network and state): lab down is scoped
  // to its state dir, and keeps the shared services while other labs have hosts.
  const down = await infra('lab', 'down');
  if (down.exitCode !== 0) fail(`lab down failed:\n${down.stderr}`);
}
