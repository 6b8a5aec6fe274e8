import { hostname, userInfo } from 'node:os';
import { connectHost } from '../engine/connect.js';
import type { Mode } from '../engine/events.js';
import { runFleet } from '../engine/run.js';
import { InfraError } from '../errors.js';
import { defaultInventoryPath, loadInventory } from '../inventory/load.js';
import type { Inventory } from '../inventory/types.js';
import { HumanReporter } from '../report/human.js';
import { exitCodeFor, jsonReport } from '../report/json.js';
import { Output } from '../report/output.js';
import { planHost } from '../roles/index.js';
import { Redactor } from '../secrets.js';

export interface GlobalOptions {
  inventory?: string;
  lab?: boolean;
}

export interface ConvergeOptions {
  json?: boolean;
  verbose?: boolean;
}

export function selectHosts(inv: Inventory, names: string[]): string[] {
  const known = inv.hosts.map((h) => h.name);
  for (const n of names)
    if (!known.includes(n))
      throw new InfraError(`no host named ${n} in ${inv.file} (hosts: ${known.join(', ')})`);
  return names.length ? names : known;
}

export function redactorFor(inv: Inventory): Redactor {
  const r = new Redactor();
  for (const s of inv.secrets) r.add(s);
  return r;
}

/** apply, apply --dry-run and check: the same probes, differing only in whether they change anything. */
export async function converge(
  mode: Mode,
  g: GlobalOptions,
  hostNames: string[],
  o: ConvergeOptions,
): Promise<number> {
  const inv = loadInventory(g.inventory ?? defaultInventoryPath(), {
    requireSecrets: mode === 'apply',
    lab: g.lab,
  });
  const hosts = selectHosts(inv, hostNames);
  const out = new Output(redactorFor(inv));
  const human = new HumanReporter(out, mode, o.verbose);
  human.hosts(hosts);
  const results = await runFleet({
    hosts,
    mode,
    plan: (h) => planHost(inv, h),
    connect: (h) => connectHost(inv, inv.hosts.find((x) => x.name === h)!),
    lockOwner: `${userInfo().username}@${hostname()} pid ${process.pid} since ${new Date().toISOString()} (infra ${mode})`,
    emit: o.json ? () => {} : human.handle,
    redactor: out.redactor,
  });
  if (o.json) out.line(JSON.stringify(jsonReport(mode, results), null, 2));
  else human.recap(results);
  return exitCodeFor(mode, results);
}
