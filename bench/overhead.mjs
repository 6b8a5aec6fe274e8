#!/usr/bin/env node
// Where one `infra check` spends its time, against the floor for the same work: plain OpenSSH
// sending infra's own probe batch to every host at once. Interleaved, median of N rounds:
//
//   node bench/overhead.mjs [-i inventory] [-n runs]
//
// infra runs with INFRA_TRACE (src/trace.ts): timing marks from Node's own start, and each host's
// probe batch written beside them. The floor sends that same batch with `ssh host sh -s`, all
// hosts in parallel, and the host times the batch itself (date +%s%N around `sh -s`), so the
// split is: until the batch leaves (Node, the CLI, the inventory, the handshake), the batch on
// the host, and after it returns (parse, diff, report, exit). Also `infra --help` against a bare
// `node -e 0`. Needs a bootstrapped lab (as bench/check-vs-ansible.mjs).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fail, interleaved, local, machine, median, options, print, repo, sh } from './lib.mjs';

const { inventory, runs } = options('node bench/overhead.mjs [-i inventory] [-n runs]', {
  inventory: { short: 'i', type: 'path', default: path.join(repo, '.infra-e2e/inventory.yaml') },
  runs: { short: 'n', type: 'count', default: '7' },
});
const labDir = path.join(path.dirname(inventory), '.infra/lab');
const lab = JSON.parse(await readFile(path.join(labDir, 'lab.json'), 'utf8'));
const learned = JSON.parse(await readFile(path.join(labDir, 'hosts.json'), 'utf8'));
const dir = await mkdtemp(path.join(tmpdir(), 'infra-overhead-'));
const traceFile = path.join(dir, 'trace');

const traced = local({ INFRA_TRACE: traceFile });
const traces = [];
const check = async () => {
  await rm(traceFile, { force: true });
  const r = await traced`node ${path.join(repo, 'bin/infra.js')} -i ${inventory} --lab check --json`;
  if (![0, 2].includes(r.exitCode)) fail(`infra check failed:\n${r.stdout}\n${r.stderr}`);
  const t = parseTrace(await readFile(traceFile, 'utf8'));
  traces.push(t);
  return t;
};

/** `<ms> <mark> [host]` lines → { mark: ms } and { host: { mark: ms } }. */
function parseTrace(text) {
  const all = {};
  const hosts = {};
  for (const line of text.trim().split('\n')) {
    const [ms, mark, host] = line.split(' ');
    if (host) {
      hosts[host] ??= {};
      hosts[host][mark] = Number(ms);
    } else all[mark] = Number(ms);
  }
  return { all, hosts };
}

const warm = await check(); // also writes each host's batch beside the trace
const names = Object.keys(warm.hosts);
const batches = Object.fromEntries(
  await Promise.all(names.map(async (h) => [h, await readFile(`${traceFile}.${h}.sh`, 'utf8')])),
);

// The same path infra takes after bootstrap: the tailnet address, the lab key, the pinned keys.
const sshArgs = (host) => [
  ...['-i', lab.keyFile, '-o', `UserKnownHostsFile=${lab.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes'],
  ...['-o', 'BatchMode=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none', '-o', 'LogLevel=ERROR'],
  `root@${learned[host]?.tailnetAddress ?? lab.hosts.find((x) => x.name === host).publicAddress}`,
  // A constant remote command (no value of ours in it): the host times the batch it reads on stdin.
  't0=$(date +%s%N); sh -s >/dev/null 2>&1; echo $(( ($(date +%s%N) - t0) / 1000000 ))',
];
const sshBatch = (host) =>
  new Promise((resolve, reject) => {
    const child = spawn('ssh', sshArgs(host), { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Number(out.trim())) : reject(new Error(`ssh ${host} exited ${code}`)),
    );
    child.stdin.end(batches[host]);
  });
const onHost = Object.fromEntries(names.map((h) => [h, []]));
const floor = () => Promise.all(names.map(async (h) => onHost[h].push(await sshBatch(h))));

const bin = path.join(repo, 'bin/infra.js');
traces.length = 0; // the warm-up run is not a sample
const r = await interleaved(runs, {
  check,
  floor,
  help: () => sh`node ${bin} --help`,
  node: () => sh`node -e 0`,
});

// Phases of each traced run (ms since Node started), medians over the runs.
const m = (f) => median(traces.map(f)).toFixed(0);
const maxOf = (t, mark) => Math.max(...names.map((h) => t.hosts[h][mark]));
const minOf = (t, mark) => Math.min(...names.map((h) => t.hosts[h][mark]));
const ratio = r.check.median / r.floor.median;
const helpGap = r.help.median - r.node.median;
const pad = (s, n = 44) => s.padEnd(n);
print([
  `infra check on ${names.length} lab hosts, where the time goes: median of ${runs} interleaved runs`,
  `  ${pad('wall time')}${r.check.median.toFixed(0)} ms`,
  `  ${pad('Node start-up to the CLI running')}${m((t) => t.all.cli)} ms`,
  `  ${pad('the check command loaded')}${m((t) => t.all.command)} ms`,
  `  ${pad('inventory loaded')}${m((t) => t.all.inventory)} ms`,
  `  ${pad('first handshake starts')}${m((t) => minOf(t, 'connecting'))} ms`,
  `  ${pad('last handshake done')}${m((t) => maxOf(t, 'connected'))} ms`,
  `  ${pad('last batch leaves')}${m((t) => maxOf(t, 'batch-sent'))} ms`,
  ...names.map(
    (h) =>
      `  ${pad(`${h}: batch out and back (seen by infra)`)}${m((t) => t.hosts[h]['batch-back'] - t.hosts[h]['batch-sent'])} ms; on the host ${median(onHost[h]).toFixed(0)} ms`,
  ),
  `  ${pad('last batch back')}${m((t) => maxOf(t, 'batch-back'))} ms`,
  `  ${pad('report printed (parse, diff, report)')}${m((t) => t.all.reported)} ms`,
  `  ${pad('process exit')}${m((t) => t.all.exit)} ms`,
  `floor: plain OpenSSH sending the same batches to every host at once: ${r.floor.median.toFixed(0)} ms`,
  `  infra check / floor: ${ratio.toFixed(2)}x (target 1.3x: ${ratio <= 1.3 ? 'met' : `missed by ${(r.check.median - 1.3 * r.floor.median).toFixed(0)} ms`})`,
  `infra --help ${r.help.median.toFixed(0)} ms; bare node -e 0 ${r.node.median.toFixed(0)} ms: +${helpGap.toFixed(0)} ms (target 30 ms: ${helpGap <= 30 ? 'met' : 'missed'})`,
  await machine(),
]);
