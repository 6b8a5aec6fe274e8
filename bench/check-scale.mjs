#!/usr/bin/env node
// infra's client side at fleet scale: `infra check` against N light SSH endpoints on loopback
// (N sshd processes on 127.0.0.1 ports; no systemd, no Docker, no other network), for N = 20, 50,
// 100, 200. Reports wall time, infra's CPU seconds and peak RSS (its own rusage, from GNU time),
// and both per host. Median of -n runs per N, the sizes interleaved.
//
//   node bench/check-scale.mjs [-n runs] [--sizes 20,50,100,200] [--parallel N] [--sshd path]
//
// Needs an sshd binary, not a running service: on a machine without openssh-server,
// `apt-get download openssh-server libwrap0`, `dpkg-deb -x` both into a directory, and run with
// LD_LIBRARY_PATH=<dir>/usr/lib/x86_64-linux-gnu and --sshd <dir>/usr/sbin/sshd.
//
// Each endpoint is a real sshd (real handshake, real key auth, real channel) whose ForceCommand
// answers the probe batch without running it: every probe section comes back empty with exit 0
// (the awk below reads the nonce and the section numbers from the batch). So infra does all of
// its own work per host — handshake, batch, split, parse, diff, report — and the hosts do almost
// none; the recap is a worst case (every host has findings, none is in sync).
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { fail, local, machine, median, options, print, repo, sh } from './lib.mjs';

const { runs, sizes, parallel, sshd } = options(
  'node bench/check-scale.mjs [-n runs] [--sizes 20,50,100,200] [--parallel N] [--sshd path]',
  {
    runs: { short: 'n', type: 'count', default: '3' },
    sizes: { type: 'string', default: '20,50,100,200' },
    parallel: { type: 'string', default: '' },
    sshd: { type: 'path', default: '/usr/sbin/sshd' },
  },
);
const ns = sizes.split(',').map(Number);
if (ns.some((n) => !Number.isInteger(n) || n < 1)) fail(`--sizes: expected numbers like 20,50, got ${sizes}`);
const most = Math.max(...ns);
if ((await sh`test -x ${sshd}`).exitCode) fail(`no sshd at ${sshd}: see the comment at the top of this file`);
if ((await sh`test -x /usr/bin/time`).exitCode) fail('needs GNU time: apt-get install -y time');

const dir = path.join(tmpdir(), `infra-scale-${process.pid}`);
await mkdir(dir, { recursive: true });
await sh`ssh-keygen -q -t ed25519 -N ${''} -f ${path.join(dir, 'host_key')}`;
await sh`ssh-keygen -q -t ed25519 -N ${''} -f ${path.join(dir, 'client_key')}`;
await sh`cp ${path.join(dir, 'client_key.pub')} ${path.join(dir, 'authorized_keys')}`;
await mkdir('/run/sshd', { recursive: true }); // sshd's privilege-separation directory

// The batch arrives on stdin (infra sends `sh -s`); answer each `@@infra:<nonce>:begin:<i>` with
// an empty section in the shape src/engine/batch.ts splitBatch expects.
const responder = path.join(dir, 'respond');
await writeFile(
  responder,
  `#!/bin/sh
exec awk 'match($0, /@@infra:[0-9a-f]+:begin:[0-9]+/) {
  split(substr($0, RSTART, RLENGTH), a, ":")
  printf "@@infra:%s:begin:%s\\n\\n@@infra:%s:stderr:%s:0\\n\\n@@infra:%s:end:%s\\n", a[2], a[4], a[2], a[4], a[2], a[4]
}'
`,
  { mode: 0o755 },
);
const config = path.join(dir, 'sshd_config');
await writeFile(
  config,
  [
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'ListenAddress 127.0.0.1',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    `ForceCommand ${responder}`,
    // infra opens every connection at once (bounded by --parallel): let each endpoint take them.
    'MaxStartups 1000',
    '',
  ].join('\n'),
);

const basePort = 22000 + (process.pid % 1000) * 10;
const ports = Array.from({ length: most }, (_, i) => basePort + i);
const daemons = [];
const stop = () => {
  for (const d of daemons) d.kill();
};
process.on('exit', stop);
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    stop();
    process.exit(1);
  });
// sshd as root needs its privilege-separation user. Where openssh-server is not installed there
// is none: each daemon then runs in its own mount namespace that sees a copy of /etc/passwd with
// that user added (bind-mounted there only), so the machine's own files stay untouched.
let wrap = (argv) => argv;
if ((await sh`getent passwd sshd`).exitCode) {
  const passwd = path.join(dir, 'passwd');
  await writeFile(
    passwd,
    `${await readFile('/etc/passwd', 'utf8')}sshd:x:997:65534::/run/sshd:/usr/sbin/nologin\n`,
  );
  wrap = (argv) => [
    'unshare',
    '--mount',
    'sh',
    '-c',
    `mount --bind "$0" /etc/passwd && exec "$@"`,
    passwd,
    ...argv,
  ];
}
for (const port of ports) {
  const [cmd, ...args] = wrap([sshd, '-D', '-f', config, '-o', `Port=${port}`]);
  daemons.push(spawn(cmd, args, { stdio: 'ignore' }));
}
await new Promise((r) => setTimeout(r, 1500));

// One inventory per size: the repository's settings (firewall, Docker, stacks …), its hosts
// replaced by N app hosts, each an endpoint, and no apps; no secrets (check needs none).
const base = parse(await readFile(path.join(repo, 'inventory.yaml'), 'utf8'));
const host = (i) => `h${String(i + 1).padStart(3, '0')}`;
const inventoryFor = async (n) => {
  const d = path.join(dir, `n${n}`);
  await mkdir(d, { recursive: true });
  const file = path.join(d, 'inventory.yaml');
  const hosts = Object.fromEntries(
    Array.from({ length: n }, (_, i) => [
      host(i),
      { role: 'apps', address: '127.0.0.1', ssh: { port: ports[i] } },
    ]),
  );
  const doc = {
    ...base,
    defaults: { ...base.defaults, ssh: { user: 'root', key: path.join(dir, 'client_key') } },
  };
  doc.hosts = hosts;
  delete doc.apps;
  await writeFile(file, stringify(doc));
  return file;
};
const inventories = Object.fromEntries(await Promise.all(ns.map(async (n) => [n, await inventoryFor(n)])));

const timed = local();
const bin = path.join(repo, 'bin/infra.js');
const extra = parallel ? ['--parallel', parallel] : [];
/** One check of size n: wall ms, CPU s (user+sys of infra) and peak RSS KiB, from GNU time. */
async function checkOf(n) {
  const t0 = process.hrtime.bigint();
  const r =
    await timed`/usr/bin/time -f ${'@@time %U %S %M'} node ${bin} -i ${inventories[n]} check --json ${extra}`;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const m = /@@time (\S+) (\S+) (\d+)/.exec(r.stderr);
  if (!m) fail(`infra check (N=${n}) did not finish:\n${r.stderr.slice(-2000)}`);
  let doc;
  try {
    doc = JSON.parse(r.stdout);
  } catch {
    fail(`infra check (N=${n}) printed no JSON (exit ${r.exitCode}):\n${r.stderr.slice(-2000)}`);
  }
  const reached = doc.hosts.filter((h) => h.status !== 'unreachable').length;
  return { ms, cpu: Number(m[1]) + Number(m[2]), rssKiB: Number(m[3]), reached, exit: r.exitCode };
}

// The first check of each size pins the endpoints' host key (known_hosts beside the inventory).
for (const n of ns) await checkOf(n);
const samples = Object.fromEntries(ns.map((n) => [n, []]));
for (let k = 0; k < runs; k++) for (const n of ns) samples[n].push(await checkOf(n));

// The human recap at the largest size: how many lines an operator reads.
const human = await timed`node ${bin} -i ${inventories[most]} check ${extra}`;
const recapLines = human.stdout.trimEnd().split('\n').length;

const rows = ns.map((n) => {
  const s = samples[n];
  const ms = median(s.map((x) => x.ms));
  const cpu = median(s.map((x) => x.cpu));
  const rss = median(s.map((x) => x.rssKiB)) / 1024;
  const reached = Math.min(...s.map((x) => x.reached));
  return { n, ms, cpu, rss, reached };
});
const [first] = rows;
print([
  `infra check against N loopback sshd endpoints (probes answered empty), median of ${runs} runs per N${parallel ? `, --parallel ${parallel}` : ''}`,
  '      N   wall      per host   CPU (user+sys)  per host   peak RSS   per host   reached',
  ...rows.map(
    (r) =>
      `  ${String(r.n).padStart(5)}   ${(r.ms / 1000).toFixed(2).padStart(5)}s  ${(r.ms / r.n).toFixed(1).padStart(6)} ms  ${r.cpu.toFixed(2).padStart(8)} s     ${((r.cpu * 1000) / r.n).toFixed(1).padStart(5)} ms  ${r.rss.toFixed(0).padStart(5)} MiB  ${((r.rss * 1024) / r.n).toFixed(0).padStart(5)} KiB   ${r.reached}/${r.n}`,
  ),
  `  wall time ${rows.at(-1).n}/${first.n} hosts: ${(rows.at(-1).ms / first.ms).toFixed(2)}x for ${(rows.at(-1).n / first.n).toFixed(0)}x the hosts`,
  `  the human report at N=${most}: ${recapLines} lines (exit ${human.exitCode})`,
  await machine(),
]);
