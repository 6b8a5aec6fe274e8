import { connectHost } from '../engine/connect.js';
import { errorMessage, InfraError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
import { Output } from '../report/output.js';
import { type RunResult, renderRunResult, runJson } from '../report/run.js';
import { findHost, type GlobalOptions, loadFor, redactorFor } from './shared.js';

/** Pure: `all`, `role:ROLE` or host names (comma-separated) -> inventory host names, in inventory order. */
export function resolveTarget(inv: Pick<Inventory, 'hosts' | 'file'>, target: string): string[] {
  const all = inv.hosts.map((h) => h.name);
  const picked = new Set<string>();
  for (const part of target.split(',')) {
    const t = part.trim();
    if (t === 'all') for (const h of all) picked.add(h);
    else if (t.startsWith('role:')) {
      const role = t.slice(5);
      const hosts = inv.hosts.filter((h) => h.role === role).map((h) => h.name);
      if (!hosts.length)
        throw new InfraError(
          `no host has role ${JSON.stringify(role)} in ${inv.file} (roles: ${[...new Set(inv.hosts.map((h) => h.role))].join(', ')})`,
        );
      for (const h of hosts) picked.add(h);
    } else if (all.includes(t)) picked.add(t);
    else
      throw new InfraError(`${JSON.stringify(t)} is not a host, role:ROLE or all (hosts: ${all.join(', ')})`);
  }
  return all.filter((h) => picked.has(h));
}

export interface RunOptions {
  json?: boolean;
  timeout?: string;
}

/** `infra run TARGET -- CMD`: on every target host at once, output grouped per host as each ends. */
export async function run(g: GlobalOptions, target: string, words: string[], o: RunOptions): Promise<number> {
  if (!words.length) throw new InfraError('no command given', "usage: infra run TARGET -- 'CMD'");
  const timeout = o.timeout ?? '600';
  if (!/^\d+$/.test(timeout) || Number(timeout) < 1)
    throw new InfraError(`--timeout ${JSON.stringify(timeout)}: expected whole seconds, at least 1`);
  const inv = loadFor(g);
  const names = resolveTarget(inv, target);
  // Several words after `--` are joined as ssh joins them; one quoted word arrives untouched.
  const cmd = words.join(' ');
  const out = new Output(redactorFor(inv));
  const results = await Promise.all(
    names.map(async (name): Promise<RunResult> => {
      const started = Date.now();
      const host = findHost(inv, name);
      let r: RunResult;
      try {
        const { transport, via } = await connectHost(inv, host);
        try {
          // The transport hands the script to /bin/sh as ONE argument, `sh -c 'CMD'`, quoted by
          // src/quote.ts (src/transport/ssh.ts): quotes, $(( )) and pipes reach the host's shell
          // as typed, never split or expanded on this machine.
          const x = await transport.exec(cmd, { timeoutMs: Number(timeout) * 1000 });
          r = {
            host: name,
            via,
            code: x.code,
            stdout: x.stdout,
            stderr: x.stderr,
            durationMs: Date.now() - started,
          };
        } finally {
          await transport.close().catch(() => {});
        }
      } catch (e) {
        r = {
          host: name,
          code: null,
          stdout: '',
          stderr: '',
          error: errorMessage(e),
          durationMs: Date.now() - started,
        };
      }
      if (!o.json) for (const line of renderRunResult(r)) out.line(line);
      return r;
    }),
  );
  if (o.json) out.line(JSON.stringify(runJson(cmd, results), null, 2));
  return results.every((r) => r.code === 0) ? 0 : 1;
}
