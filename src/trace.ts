import { appendFileSync, writeFileSync } from 'node:fs';

/**
 * Timing marks for bench/overhead.mjs, off unless INFRA_TRACE names a file: one line per mark,
 * `<ms since the process started> <mark> [host]` (performance.now() counts from Node's own
 * start, so the first mark includes Node's start-up). With it set, each host's first probe batch
 * is also written beside the file (`<file>.<host>.sh`, mode 0600), so the benchmark can send the
 * very same script over plain OpenSSH. Probes only read, and carry no secret values. Costs
 * nothing when unset: one environment lookup at load.
 */
const file = process.env.INFRA_TRACE;

export const trace: (mark: string, host?: string) => void = file
  ? (mark, host) => appendFileSync(file, `${performance.now().toFixed(1)} ${mark}${host ? ` ${host}` : ''}\n`)
  : () => {};

const written = new Set<string>();
export const traceBatch: (host: string, script: string) => void = file
  ? (host, script) => {
      if (written.has(host)) return;
      written.add(host);
      writeFileSync(`${file}.${host}.sh`, script, { mode: 0o600 });
    }
  : () => {};
