#!/usr/bin/env node
// Side-by-side benchmark, one run, same lab hosts: `infra check` against an Ansible --check
// playbook probing the same things (bench/ansible/check.yml; pipelining on, facts off, forks >=
// hosts). Prints medians of N runs each, the ratio, and infra's round trips per host.
//
//   node bench/check-vs-ansible.mjs [-i inventory] [-n runs]
//
// Needs ansible-core (apt-get install ansible-core) and a bootstrapped lab (the hosts answer SSH
// on their tailnet address, which infra learned in .infra/lab/hosts.json).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (flag, dflt) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : dflt);
const inventory = path.resolve(opt('-i', path.join(repo, '.infra-e2e/inventory.yaml')));
const runs = Number(opt('-n', '5'));
const labDir = path.join(path.dirname(inventory), '.infra/lab');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const timed = (cmd, argv, env = {}) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, r };
};

// Ansible reaches the hosts the way infra does after bootstrap: the tailnet address, the lab key,
// the lab's pinned known_hosts. Each host sits in its role's group; app hosts get their apps.
const lab = JSON.parse(readFileSync(path.join(labDir, 'lab.json'), 'utf8'));
const learned = JSON.parse(readFileSync(path.join(labDir, 'hosts.json'), 'utf8'));
const apps = Object.entries(parse(readFileSync(inventory, 'utf8')).apps ?? {});
const appsOf = (host) => apps.filter(([, app]) => app.host === host).map(([name]) => name);
const work = mkdtempSync(path.join(tmpdir(), 'infra-bench-'));
const hostsFile = path.join(work, 'hosts.json');
const groups = {};
for (const h of lab.hosts) {
  groups[h.role] ??= { hosts: {} };
  groups[h.role].hosts[h.name] = {
    ansible_host: learned[h.name]?.tailnetAddress ?? h.publicAddress,
    ansible_user: 'root',
    ansible_ssh_private_key_file: lab.keyFile,
    apps: appsOf(h.name),
  };
}
writeFileSync(
  hostsFile,
  JSON.stringify({
    all: {
      vars: { ansible_ssh_common_args: `-o UserKnownHostsFile=${lab.knownHostsFile}` },
      children: groups,
    },
  }),
);
const ansibleEnv = { ANSIBLE_CONFIG: path.join(repo, 'bench/ansible/ansible.cfg') };
const ansible = () =>
  timed(
    'ansible-playbook',
    ['-i', hostsFile, '--check', '--diff', path.join(repo, 'bench/ansible/check.yml')],
    ansibleEnv,
  );
const infra = () =>
  timed('node', [path.join(repo, 'bin/infra.js'), '-i', inventory, '--lab', 'check', '--json']);

const warmA = ansible();
if (warmA.r.status !== 0) throw new Error(`ansible failed:\n${warmA.r.stdout}\n${warmA.r.stderr}`);
const warmI = infra();
if (![0, 2].includes(warmI.r.status))
  throw new Error(`infra check failed:\n${warmI.r.stdout}\n${warmI.r.stderr}`);

const a = [];
const i = [];
let doc;
for (let k = 0; k < runs; k++) {
  // Interleaved, so both see the same machine load.
  a.push(ansible().ms);
  const run = infra();
  i.push(run.ms);
  doc = JSON.parse(run.r.stdout);
}
const mi = median(i);
const ma = median(a);
const lines = [
  `infra check vs ansible-playbook --check on ${doc.hosts.length} lab hosts, median of ${runs} interleaved runs each`,
  `  infra check:   ${(mi / 1000).toFixed(2)}s   (exit ${warmI.r.status}; ${doc.hosts.map((h) => `${h.name}: ${h.stats.connections} connection, ${h.stats.execs} round trip`).join('; ')})`,
  `  ansible check: ${(ma / 1000).toFixed(2)}s   (${execFileSync('ansible', ['--version'], { encoding: 'utf8' }).split('\n')[0]}, pipelining, no facts, forks 50, strategy free)`,
  `  ratio: infra is ${(ma / mi).toFixed(1)}x faster`,
  `machine: ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
