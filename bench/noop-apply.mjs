#!/usr/bin/env node
// Benchmark (not a test): what a no-op `infra apply` costs over the lab hosts, and how fast
// `infra --help` starts. Prints medians of N runs measured side by side in one session.
//
//   node bench/noop-apply.mjs [-i inventory] [-n runs]
//
// Needs a running lab whose hosts were converged once (the script converges them first).
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (flag, dflt) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : dflt);
const inventory = path.resolve(opt('-i', path.join(repo, '.infra-e2e/inventory.yaml')));
const runs = Number(opt('-n', '5'));
const bin = path.join(repo, 'bin/infra.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const time = (fn) => {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, r };
};
const infra = (...a) =>
  spawnSync('node', [bin, '-i', inventory, ...a], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });

// Start-up: --help must not load ssh2 (checked through the CommonJS cache at exit).
const probe = `import {createRequire} from 'node:module';const req=createRequire(import.meta.url);process.argv=['node','infra','--help'];process.on('exit',()=>process.stderr.write('ssh2-loaded='+Object.keys(req.cache).some(k=>k.includes('/ssh2/'))));await import(${JSON.stringify(path.join(repo, 'dist/cli.js'))});`;
const ssh2 = spawnSync('node', ['--input-type=module', '-e', probe], { encoding: 'utf8' }).stderr;
const bareNode = median(Array.from({ length: 10 }, () => time(() => spawnSync('node', ['-e', '0'])).ms));
const help = median(Array.from({ length: 10 }, () => time(() => spawnSync('node', [bin, '--help'])).ms));

const warm = infra('--lab', 'apply', '--json');
if (warm.status !== 0) {
  process.stderr.write(
    `converging the lab first failed (exit ${warm.status}):\n${warm.stdout}${warm.stderr}`,
  );
  process.exit(1);
}
const samples = [];
let doc;
for (let i = 0; i < runs; i++) {
  const { ms, r } = time(() => infra('--lab', 'apply', '--json'));
  doc = JSON.parse(r.stdout);
  const changes = doc.hosts.reduce((n, h) => n + h.changes.length, 0);
  if (r.status !== 0 || changes !== 0)
    throw new Error(`run ${i} was not a no-op: exit ${r.status}, ${changes} changes`);
  samples.push(ms);
}

const out = [
  `no-op apply over ${doc.hosts.length} lab hosts, median of ${runs} runs: ${(median(samples) / 1000).toFixed(2)}s wall`,
  ...doc.hosts.map(
    (h) =>
      `  ${h.name.padEnd(10)} ssh connections ${h.stats.connections}   exec round trips ${h.stats.execs} (lock 1 + probe ${h.stats.execs - 1})   ${h.durationMs} ms`,
  ),
  `infra --help start-up, median of 10: ${help.toFixed(0)} ms; bare \`node -e 0\`: ${bareNode.toFixed(0)} ms   (${ssh2.trim()})`,
  `machine: ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
];
process.stdout.write(`${out.join('\n')}\n`);
