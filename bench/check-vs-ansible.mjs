#!/usr/bin/env node
// Side-by-side benchmark, one run, same lab hosts: `infra check` against an Ansible --check
// playbook probing the same things (bench/ansible/check.yml; pipelining on, facts off, forks >=
// hosts). Prints medians of N runs each, the ratio, and infra's round trips per host.
//
//   node bench/check-vs-ansible.mjs [-i inventory] [-n runs]
//
// Needs ansible-core (apt-get install ansible-core) and a bootstrapped lab (the hosts answer SSH
// on their tailnet address, which infra learned in .infra/lab/hosts.json).
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { fail, infraOn, interleaved, local, machine, options, print, repo, secs, sh } from './lib.mjs';

const { inventory, runs } = options('node bench/check-vs-ansible.mjs [-i inventory] [-n runs]', {
  inventory: { short: 'i', type: 'path', default: path.join(repo, '.infra-e2e/inventory.yaml') },
  runs: { short: 'n', type: 'count', default: '5' },
});
const labDir = path.join(path.dirname(inventory), '.infra/lab');
const readJson = async (file) => JSON.parse(await readFile(file, 'utf8'));

// Ansible reaches the hosts the way infra does after bootstrap: the tailnet address, the lab key,
// the lab's pinned known_hosts. Each host sits in its role's group; app hosts get their apps.
const lab = await readJson(path.join(labDir, 'lab.json'));
const learned = await readJson(path.join(labDir, 'hosts.json'));
const apps = Object.entries(parse(await readFile(inventory, 'utf8')).apps ?? {});
const appsOf = (host) => apps.filter(([, app]) => app.host === host).map(([name]) => name);
const hostsFile = path.join(await mkdtemp(path.join(tmpdir(), 'infra-bench-')), 'hosts.json');
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
const all = {
  vars: { ansible_ssh_common_args: `-o UserKnownHostsFile=${lab.knownHostsFile}` },
  children: groups,
};
await writeFile(hostsFile, JSON.stringify({ all }));

const ansibleAt = local({ ANSIBLE_CONFIG: path.join(repo, 'bench/ansible/ansible.cfg') });
const playbook = path.join(repo, 'bench/ansible/check.yml');
const ansible = () => ansibleAt`ansible-playbook -i ${hostsFile} --check --diff ${playbook}`;
const infra = () => infraOn(inventory)('--lab', 'check', '--json');

const warmA = await ansible();
if (warmA.exitCode !== 0) fail(`ansible failed:\n${warmA.stdout}\n${warmA.stderr}`);
const warmI = await infra();
if (![0, 2].includes(warmI.exitCode)) fail(`infra check failed:\n${warmI.stdout}\n${warmI.stderr}`);

const { a, i } = await interleaved(runs, { a: ansible, i: infra });
const doc = JSON.parse(i.last.stdout);
const version = (await sh`ansible --version`).stdout.split('\n')[0];
print([
  `infra check vs ansible-playbook --check on ${doc.hosts.length} lab hosts, median of ${runs} interleaved runs each`,
  `  infra check:   ${secs(i.median)}s   (exit ${warmI.exitCode}; ${doc.hosts.map((h) => `${h.name}: ${h.stats.connections} connection, ${h.stats.execs} round trip`).join('; ')})`,
  `  ansible check: ${secs(a.median)}s   (${version}, pipelining, no facts, forks 50, strategy free)`,
  `  ratio: infra is ${(a.median / i.median).toFixed(1)}x faster`,
  await machine(),
]);
