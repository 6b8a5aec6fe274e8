#!/usr/bin/env node
// Benchmark (not a test): does `infra check` scale with hosts run in parallel? Brings up N lab
// hosts (default 20) from a generated inventory in .infra-bench/, then times `check` over 2 of
// them and over all N, interleaved, median of R runs each. Target: N hosts < 3x the 2-host time.
// The hosts are fresh (not bootstrapped), so check reports drift: what is timed is the probe path
// (connect, one batched probe round trip per host, diff), the same whatever the verdict.
//
//   node bench/check-scaling.mjs [-n hosts] [-r runs] [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (flag, dflt) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : dflt);
const n = Number(opt('-n', '20'));
const runs = Number(opt('-r', '5'));
const dir = path.join(repo, '.infra-bench');
const inventory = path.join(dir, 'inventory.yaml');

// The repository's inventory with its hosts replaced by N plain hosts (bench-01 is the control).
const doc = parseDocument(readFileSync(path.join(repo, 'inventory.yaml'), 'utf8'));
const names = Array.from({ length: n }, (_, i) => `bench-${String(i + 1).padStart(2, '0')}`);
doc.set(
  'hosts',
  Object.fromEntries(names.map((h, i) => [h, { role: i === 0 ? 'control' : 'apps', address: '127.0.0.1' }])),
);
doc.set('apps', {});
mkdirSync(dir, { recursive: true });
writeFileSync(inventory, String(doc));

const infra = (...a) =>
  spawnSync('node', [path.join(repo, 'bin/infra.js'), '-i', inventory, ...a], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
const up = infra('lab', 'up');
if (up.status !== 0) throw new Error(`lab up failed:\n${up.stderr}`);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const timed = (...a) => {
  const t0 = process.hrtime.bigint();
  const r = infra('--lab', 'check', '--json', ...a);
  if (![0, 2].includes(r.status)) throw new Error(`check failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, doc: JSON.parse(r.stdout) };
};
timed(...names.slice(0, 2));
timed();
const two = [];
const all = [];
let last;
for (let k = 0; k < runs; k++) {
  two.push(timed(...names.slice(0, 2)).ms);
  last = timed();
  all.push(last.ms);
}
const execs = new Set(last.doc.hosts.map((h) => `${h.stats.connections}/${h.stats.execs}`));

// Where the CPU of one all-hosts check goes: infra's own process, and the lab hosts (their
// sshd, shells and probes), which share this machine's cores with it. Read from the hosts'
// cgroups (v1 cpuacct or v2 cpu.stat) and from this process's reaped children.
const cgroupCpuMs = (id) => {
  for (const [file, parse] of [
    [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, (t) => Number(t) / 1e6],
    [
      `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`,
      (t) => Number(/usage_usec (\d+)/.exec(t)[1]) / 1e3,
    ],
  ])
    if (existsSync(file)) return parse(readFileSync(file, 'utf8'));
  return Number.NaN;
};
const childCpuMs = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // cutime + cstime, at USER_HZ 100
};
const ids = names.map((h) =>
  execFileSync('docker', ['inspect', '-f', '{{.Id}}', `infra-lab-${h}`], { encoding: 'utf8' }).trim(),
);
const hostsBefore = ids.map(cgroupCpuMs);
const clientBefore = childCpuMs();
const probeRun = timed();
const clientMs = childCpuMs() - clientBefore;
const hostsMs = ids.map(cgroupCpuMs).reduce((sum, v, i) => sum + v - hostsBefore[i], 0);
const cores = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
process.stdout.write(
  [
    `infra check scaling, median of ${runs} interleaved runs each (fresh lab hosts)`,
    `  2 hosts:  ${(median(two) / 1000).toFixed(2)}s`,
    `  ${n} hosts: ${(median(all) / 1000).toFixed(2)}s   (${(median(all) / median(two)).toFixed(2)}x the 2-host time; connections/round trips per host: ${[...execs].join(', ')})`,
    `  one ${n}-host check (${(probeRun.ms / 1000).toFixed(2)}s) used ${(clientMs / 1000).toFixed(2)} CPU-s in infra and ${(hostsMs / 1000).toFixed(2)} CPU-s in the lab hosts (${Math.round(hostsMs / n)} ms each):`,
    `  on ${cores} cores that alone takes at least ${((clientMs + hostsMs) / cores / 1000).toFixed(2)}s`,
    `machine: ${cores} cores, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
  ].join('\n') + '\n',
);

if (!args.includes('--keep')) {
  // Remove only this benchmark's hosts (labelled with its lab directory), never other labs'.
  const mine = execFileSync(
    'docker',
    ['ps', '-aq', '--filter', `label=infra.lab.state=${path.join(dir, '.infra/lab')}`],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);
  // One at a time: twenty force-removals at once left stale endpoints on the lab network here
  // (dockerd 26), which then refused `network rm` until the daemon restarted.
  for (const id of mine) execFileSync('docker', ['rm', '-f', '-v', id]);
  for (const h of names) spawnSync('docker', ['volume', 'rm', '-f', `infra-lab-${h}-docker`]);
}
