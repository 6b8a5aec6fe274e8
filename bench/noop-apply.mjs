#!/usr/bin/env node
// Benchmark (not a test): what a no-op `infra apply` costs over the lab hosts, and how fast
// `infra --help` starts. Prints medians of N runs measured side by side in one session.
//
//   node bench/noop-apply.mjs [-i inventory] [-n runs]
//
// Needs a running lab whose hosts were converged once (the script converges them first).
import path from 'node:path';
import { fail, infraOn, interleaved, machine, options, print, repo, secs, sh } from './lib.mjs';

const { inventory, runs } = options('node bench/noop-apply.mjs [-i inventory] [-n runs]', {
  inventory: { short: 'i', type: 'path', default: path.join(repo, '.infra-e2e/inventory.yaml') },
  runs: { short: 'n', type: 'count', default: '5' },
});
const infra = infraOn(inventory);
const bin = path.join(repo, 'bin/infra.js');

// Start-up: --help must not load ssh2 (checked through the CommonJS cache at exit).
const probe = `import {createRequire} from 'node:module';const req=createRequire(import.meta.url);process.argv=['node','infra','--help'];process.on('exit',()=>process.stderr.write('ssh2-loaded='+Object.keys(req.cache).some(k=>k.includes('/ssh2/'))));await import(${JSON.stringify(path.join(repo, 'dist/cli.js'))});`;
const ssh2 = (await sh`node --input-type=module -e ${probe}`).stderr;
const start = await interleaved(10, { bareNode: () => sh`node -e 0`, help: () => sh`node ${bin} --help` });

const warm = await infra('--lab', 'apply', '--json');
if (warm.exitCode !== 0)
  fail(`converging the lab first failed (exit ${warm.exitCode}):\n${warm.stdout}${warm.stderr}`);
const { apply } = await interleaved(runs, {
  apply: async (k) => {
    const r = await infra('--lab', 'apply', '--json');
    const doc = JSON.parse(r.stdout);
    const changes = doc.hosts.reduce((n, h) => n + h.changes.length, 0);
    if (r.exitCode !== 0 || changes !== 0)
      fail(`run ${k} was not a no-op: exit ${r.exitCode}, ${changes} changes`);
    return doc;
  },
});

const doc = apply.last;
print([
  `no-op apply over ${doc.hosts.length} lab hosts, median of ${runs} runs: ${secs(apply.median)}s wall`,
  ...doc.hosts.map(
    (h) =>
      `  ${h.name.padEnd(10)} ssh connections ${h.stats.connections}   exec round trips ${h.stats.execs} (lock 1 + probe ${h.stats.execs - 1})   ${h.durationMs} ms`,
  ),
  `infra --help start-up, median of 10: ${start.help.median.toFixed(0)} ms; bare \`node -e 0\`: ${start.bareNode.median.toFixed(0)} ms   (${ssh2.trim()})`,
  await machine(),
]);
