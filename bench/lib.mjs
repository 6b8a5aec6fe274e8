// What every benchmark in bench/ shares: its flags (node:util parseArgs), running infra and other
// local commands (zx), interleaved timing, medians, and the closing machine line. A new benchmark
// is its setup, one `interleaved()` call and its printed lines:
//
//   const { inventory, runs } = options('node bench/x.mjs [-i inventory] [-n runs]', {
//     inventory: { short: 'i', type: 'path', default: '.infra-e2e/inventory.yaml' },
//     runs: { short: 'n', type: 'count', default: '5' },
//   });
//   const infra = infraOn(inventory);
//   const { check } = await interleaved(runs, { check: () => infra('--lab', 'check', '--json') });
//   print([`check: ${secs(check.median)}s`, await machine()]);
//
// zx is for these local processes only: its quote() emits bash-only $'…', which dash (the hosts'
// /bin/sh) prints literally, so nothing here builds a command for a host (src/quote.ts does).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { $ } from 'zx';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Prints one line to stderr and exits 1: a benchmark that cannot run says why, without a stack. */
export const fail = (message) => {
  process.stderr.write(`${message.trimEnd()}\n`);
  process.exit(1);
};

/**
 * The benchmark's flags. `spec` maps each option's long name to {short, default, type}; a type
 * 'count' is a positive integer, 'path' is resolved against the current directory, 'boolean' a
 * switch, anything else a string. Unknown flags and bad values end the run with the usage line.
 */
export function options(usage, spec) {
  const parseSpec = Object.fromEntries(
    Object.entries(spec).map(([name, o]) => [
      name,
      { type: o.type === 'boolean' ? 'boolean' : 'string', ...(o.short ? { short: o.short } : {}) },
    ]),
  );
  let values;
  try {
    ({ values } = parseArgs({ options: parseSpec, strict: true, allowPositionals: false }));
  } catch (e) {
    fail(`${e.message}\nusage: ${usage}`);
  }
  const out = {};
  for (const [name, o] of Object.entries(spec)) {
    const v = values[name] ?? o.default;
    if (o.type === 'count') {
      const n = Number(v);
      const flag = o.short ? `-${o.short}` : `--${name}`;
      if (!Number.isInteger(n) || n < 1)
        fail(`${flag}: expected a positive integer, got ${v}\nusage: ${usage}`);
      out[name] = n;
    } else if (o.type === 'path') out[name] = path.resolve(v);
    else out[name] = o.type === 'boolean' ? Boolean(v) : v;
  }
  return out;
}

/**
 * Local commands, without colour (so --json stays parseable) and with `env` added: output
 * captured, never echoed, a non-zero exit returned in `exitCode` rather than thrown.
 */
export const local = (env = {}) =>
  $({ quiet: true, nothrow: true, env: { ...process.env, NO_COLOR: '1', ...env } });
export const sh = local();

/** `infra -i <inventory> …args`, from this clone's bin/. */
export const infraOn =
  (inventory) =>
  (...args) =>
    sh`node ${path.join(repo, 'bin/infra.js')} -i ${inventory} ${args}`;

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Wall time of one awaited call, in ms, with its result. */
export async function timed(fn) {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, r };
}

/**
 * Runs every case once per round, in turn, for `runs` rounds, so all of them see the same machine
 * load. Returns, per case, its samples (ms), their median and the last run's result.
 */
export async function interleaved(runs, cases) {
  const out = Object.fromEntries(Object.keys(cases).map((name) => [name, { ms: [], last: undefined }]));
  for (let k = 0; k < runs; k++)
    for (const [name, run] of Object.entries(cases)) {
      const { ms, r } = await timed(() => run(k));
      out[name].ms.push(ms);
      out[name].last = r;
    }
  for (const c of Object.values(out)) c.median = median(c.ms);
  return out;
}

/** Milliseconds as seconds with two decimals, the way every benchmark prints a wall time. */
export const secs = (ms) => (ms / 1000).toFixed(2);

export const cores = async () => Number((await sh`nproc`).stdout.trim());

/** The closing line of every benchmark. */
export const machine = async () =>
  `machine: ${await cores()} cores, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`;

export const print = (lines) => process.stdout.write(`${lines.join('\n')}\n`);
