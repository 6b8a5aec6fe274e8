import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { errorMessage, HostKeyChangedError, UnreachableError } from '../errors.js';
import type { Host, Inventory } from '../inventory/types.js';
import { trace } from '../trace.js';
import { factsOf, type HostFacts } from './facts.js';
import type { Connected } from './run.js';
import type { Facts } from './task.js';

/** What infra learned about hosts (their tailnet address), kept beside the inventory, not in it. */
export type Learned = Record<string, Facts>;

export function readLearned(stateDir: string): Learned {
  const file = path.join(stateDir, 'hosts.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Learned) : {};
}

export function saveLearned(stateDir: string, host: string, facts: Learned[string]): void {
  const all = readLearned(stateDir);
  const merged = { ...all[host], ...facts };
  if (JSON.stringify(all[host]) === JSON.stringify(merged)) return;
  all[host] = merged;
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(path.join(stateDir, 'hosts.json'), `${JSON.stringify(all, null, 2)}\n`);
}

/** A host that was rebuilt (lab reset) has no tailnet address until it joins again. */
export function forgetLearned(stateDir: string, host: string): void {
  const all = readLearned(stateDir);
  if (!(host in all)) return;
  delete all[host];
  writeFileSync(path.join(stateDir, 'hosts.json'), `${JSON.stringify(all, null, 2)}\n`);
}

export interface Path {
  kind: 'tailnet' | 'public';
  address: string;
}

/** Pure: the tailnet first once it is known (public SSH closes after bootstrap), then the public address. */
export function pathsFor(host: Host, facts: HostFacts): Path[] {
  const tailnet = facts.of(host.name)?.tailnetAddress;
  return [
    ...(tailnet ? [{ kind: 'tailnet' as const, address: tailnet }] : []),
    { kind: 'public' as const, address: host.address },
  ];
}

/** One SSH connection over the first path that answers; a changed host key stops the search. */
export async function connectHost(
  inv: Inventory,
  host: Host,
  o: { only?: Path['kind']; facts?: HostFacts } = {},
): Promise<Connected> {
  const { only } = o;
  trace('connecting', host.name);
  const { connectSsh } = await import('../transport/ssh.js');
  const failures: string[] = [];
  const paths = pathsFor(host, factsOf(inv.stateDir, o.facts)).filter((p) => !only || p.kind === only);
  for (const p of paths) {
    let recorded: string | undefined;
    try {
      const transport = await connectSsh(
        {
          name: host.name,
          address: p.address,
          port: host.ssh.port,
          user: host.ssh.user,
          key: host.ssh.key,
          knownHostsFile: inv.knownHostsFile,
        },
        {
          connectTimeoutMs: p.kind === 'tailnet' && paths.length > 1 ? 6000 : 15000,
          onHostKeyRecorded: (f) => (recorded = f),
        },
      );
      trace('connected', host.name);
      return { transport, via: `${p.kind} ${p.address}`, hostKeyRecorded: recorded };
    } catch (e) {
      if (e instanceof HostKeyChangedError) throw e;
      failures.push(
        `${p.kind} ${p.address}: ${errorMessage(e).replace(/^cannot connect to \S+ at \S+: /, '')}`,
      );
    }
  }
  throw new UnreachableError(`no SSH path to ${host.name} answers (${failures.join('; ')})`);
}
