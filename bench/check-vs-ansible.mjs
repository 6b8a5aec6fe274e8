#!/usr/bin/env node
// Side-by-side benchmark, one interleaved run, same lab hosts, three contestants: `infra check`,
// an Ansible --check playbook probing the same things (bench/ansible/check.yml; pipelining on,
// facts off, forks >= hosts, strategy free), and the same playbook under Mitogen, the fastest
// way operators run Ansible (ANSIBLE_STRATEGY=mitogen_linear, the strategy its docs name:
// https://mitogen.networkgenomics.com/ansible_detailed.html). Prints medians of N runs each,
// both ratios, and infra's round trips per host.
//
//   node bench/check-vs-ansible.mjs [-i inventory] [-n runs]
//
// Needs ansible-core and Debian's ansible-mitogen 0.3.3 (apt-get install ansible-core
// ansible-mitogen) and a bootstrapped lab (the hosts answer SSH on their tailnet address, which
// infra learned in .infra/lab/hosts.json).
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
const inv = parse(await readFile(inventory, 'utf8'));
const apps = Object.entries(inv.apps ?? {});
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
  vars: {
    ansible_ssh_common_args: `-o UserKnownHostsFile=${lab.knownHostsFile}`,
    dokploy_owner_email: inv.dokploy?.owner_email ?? '',
  },
  children: groups,
};
await writeFile(hostsFile, JSON.stringify({ all }));

// Mitogen's strategy plugins, from the installed package (Debian: ansible-mitogen), asked of the
// Python that runs ansible-playbook (its shebang: a pyenv python3 on PATH would not have them).
const playbookBin = (await sh`command -v ansible-playbook`).stdout.trim();
if (!playbookBin) fail('ansible-playbook is not installed: apt-get install -y ansible-core ansible-mitogen');
const python = (await readFile(playbookBin, 'utf8'))
  .split('\n')[0]
  .replace(/^#!\s*/, '')
  .split(/\s+/)[0];
const plugins = (
  await sh`${python} -c ${'import os, ansible_mitogen as m; print(os.path.join(os.path.dirname(m.__file__), "plugins", "strategy"))'}`
).stdout.trim();
if (!plugins) fail('ansible-mitogen is not installed: apt-get install -y ansible-core ansible-mitogen');
const config = path.join(repo, 'bench/ansible/ansible.cfg');
const playbook = path.join(repo, 'bench/ansible/check.yml');
const tuned = local({ ANSIBLE_CONFIG: config });
const mitogen = local({
  ANSIBLE_CONFIG: config,
  ANSIBLE_STRATEGY_PLUGINS: plugins,
  ANSIBLE_STRATEGY: 'mitogen_linear',
});
const ansible = () => tuned`ansible-playbook -i ${hostsFile} --check --diff ${playbook}`;
const withMitogen = () => mitogen`ansible-playbook -i ${hostsFile} --check --diff ${playbook}`;
const infra = () => infraOn(inventory)('--lab', 'check', '--json');

for (const [name, run] of [
  ['ansible', ansible],
  ['ansible + mitogen', withMitogen],
]) {
  const warm = await run();
  if (warm.exitCode !== 0) fail(`${name} failed:\n${warm.stdout}\n${warm.stderr}`);
}
const warmI = await infra();
if (![0, 2].includes(warmI.exitCode)) fail(`infra check failed:\n${warmI.stdout}\n${warmI.stderr}`);

const { i, a, m } = await interleaved(runs, { i: infra, a: ansible, m: withMitogen });
const doc = JSON.parse(i.last.stdout);
const version = (await sh`ansible --version`).stdout.split('\n')[0];
const mitogenVersion = (await sh`dpkg-query -W ansible-mitogen`).stdout.trim().split('\t')[1];
print([
  `infra check vs ansible-playbook --check on ${doc.hosts.length} lab hosts, median of ${runs} interleaved runs each`,
  `  infra check:       ${secs(i.median)}s   (exit ${warmI.exitCode}; ${doc.hosts.map((h) => `${h.name}: ${h.stats.connections} connection, ${h.stats.execs} round trip`).join('; ')})`,
  `  ansible tuned:     ${secs(a.median)}s   (${version}, pipelining, no facts, forks 50, strategy free)`,
  `  ansible + mitogen: ${secs(m.median)}s   (ansible-mitogen ${mitogenVersion}, strategy mitogen_linear)`,
  `  ratios: infra is ${(a.median / i.median).toFixed(1)}x faster than tuned Ansible, ${(m.median / i.median).toFixed(1)}x faster than Ansible + Mitogen (Mitogen is ${(a.median / m.median).toFixed(2)}x tuned Ansible)`,
  await machine(),
]);
