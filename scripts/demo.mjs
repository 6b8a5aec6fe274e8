#!/usr/bin/env node
// The quick start: a local lab for the repository's inventory, and the operator's three sentences
// run against it with --lab. Works on a copy in .infra-demo/ (without the app beanstock, so that
// add-app has something to add); the real inventory.yaml is never touched or contacted.
//
//   npm run demo        (or: node scripts/demo.mjs, after npm run build)
//
// zx runs local commands only; it never builds a command for a host (see README, Dependencies).
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { $, cd, fs, path } from 'zx';

cd(path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
const demo = '.infra-demo';
await fs.mkdirp(demo);

// The Document API keeps the inventory's comments and layout; only the one app goes.
const doc = parseDocument(await fs.readFile('inventory.yaml', 'utf8'));
doc.deleteIn(['apps', 'beanstock']);
await fs.writeFile(`${demo}/inventory.yaml`, String(doc));

// infra's own output goes straight to the terminal (colour included); the first failing step
// stops the demo with its exit code, as `set -e` did.
const infra = async (...args) => {
  process.stdout.write(`\n$ infra ${args.join(' ')}\n`);
  const run = await $({
    stdio: 'inherit',
    nothrow: true,
  })`node bin/infra.js -i ${`${demo}/inventory.yaml`} ${args}`;
  if (run.exitCode !== 0) process.exit(run.exitCode ?? 1);
};

await infra('lab', 'up');
await infra('--lab', 'bootstrap', 'toucan');
await infra('--lab', 'bootstrap', 'hornbill');
await infra('--lab', 'add-app', 'beanstock', '--pg', '18');
await infra('--lab', 'check');
