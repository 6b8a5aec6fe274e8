import { batchScript, newNonce, sharedReadsOf, splitBatch } from '../engine/batch.js';
import { connectHost } from '../engine/connect.js';
import { HostFacts } from '../engine/facts.js';
import type { AnyTask } from '../engine/task.js';
import { errorMessage, InfraError, UnreachableError } from '../errors.js';
import type { Host, Inventory } from '../inventory/types.js';
import { Output } from '../report/output.js';
import { type HostStatus, renderStatus, statusExitCode, statusJson, warningsOf } from '../report/status.js';
import { planHost } from '../roles/index.js';
import {
  appProbe,
  diskProbe,
  FACTS_PROBE,
  parseApp,
  parseDisks,
  parseFacts,
  parseSecurity,
  SECURITY_PROBE,
} from '../tasks/host-status.js';
import { BACKUPS_DIR } from '../tasks/pg-backup.js';
import { findHost, type GlobalOptions, loadFor, redactorFor, selectHosts } from './shared.js';

export interface StatusOptions {
  json?: boolean;
  /** Percent of a filesystem used from which status warns (default 85). */
  diskWarn?: string;
}

export function parseDiskWarn(value: string | undefined): number {
  const v = value ?? '85';
  if (!/^\d{1,3}$/.test(v) || Number(v) < 1 || Number(v) > 100)
    throw new InfraError(`--disk-warn ${JSON.stringify(v)}: expected a percentage from 1 to 100`);
  return Number(v);
}

/**
 * `infra status [host…]`: what an operator asks every morning, for every host at once, in ONE
 * round trip per host: the facts, the apps' PostgreSQL and backups, and the stacks' health
 * probes (the same probes `check` runs, reused from the host's plan). Read-only: no lock.
 */
export async function status(g: GlobalOptions, names: string[], o: StatusOptions): Promise<number> {
  const warnAt = parseDiskWarn(o.diskWarn);
  const inv = loadFor(g);
  const hosts = selectHosts(inv, names).map((n) => findHost(inv, n));
  const facts = HostFacts.load(inv.stateDir);
  const results = await Promise.all(hosts.map((h) => hostStatus(inv, h, warnAt, facts)));
  const out = new Output(redactorFor(inv));
  if (o.json) out.line(JSON.stringify(statusJson(results, warnAt), null, 2));
  else for (const line of renderStatus(results, warnAt)) out.line(line);
  return statusExitCode(results);
}

async function hostStatus(
  inv: Inventory,
  host: Host,
  warnAt: number,
  learned: HostFacts,
): Promise<HostStatus> {
  const started = Date.now();
  const base = {
    name: host.name,
    role: host.role,
    addresses: { public: host.address, tailnet: learned.of(host.name)?.tailnetAddress },
  };
  let stats = { connections: 0, execs: 0 };
  try {
    const { transport, via } = await connectHost(inv, host, { facts: learned });
    try {
      const apps = inv.apps.filter((a) => a.host === host.name);
      // A stack's health is whatever its plan checks: the same probe, reads and diff as `check`.
      // Dokploy is swarm services, not a compose stack: its one task is its health (replicas
      // running, Traefik up, the owner signs in) as well as its spec.
      const health = planHost(inv, host.name, learned).filter((t) =>
        /^stack:.+:health$|^stack:dokploy$/.test(t.id),
      ) as AnyTask[];
      const probes = [
        FACTS_PROBE,
        SECURITY_PROBE,
        diskProbe(BACKUPS_DIR),
        ...apps.map((a) => appProbe(a.name)),
        ...health.map((t) => t.probe),
      ];
      const nonce = newNonce();
      const r = await transport.exec(batchScript(probes, nonce, sharedReadsOf(health)), {
        timeoutMs: 120_000,
      });
      stats = { ...transport.stats };
      const [facts, security, disks, ...rest] = splitBatch(r.stdout, probes.length, nonce);
      const now = Date.now() / 1000;
      const f = parseFacts(facts!.stdout);
      const result: HostStatus = {
        ...base,
        addresses: { ...base.addresses, tailnet: f.tailnet ?? base.addresses.tailnet },
        status: 'ok',
        via,
        facts: f,
        security: parseSecurity(security!.stdout),
        disks: parseDisks(disks!.stdout, warnAt),
        apps: apps.map((a, i) => parseApp(a, rest[i]!.stdout, now)),
        stacks: health.map((t, i) => {
          const changes = t.diff(t.parse(rest[apps.length + i]!.stdout));
          return {
            name: t.id.replace(/^stack:|:health$/g, ''),
            healthy: changes.length === 0,
            problems: changes.map((c) => c.summary),
          };
        }),
        warnings: [],
        durationMs: 0,
        stats,
      };
      result.warnings = warningsOf(result);
      if (result.warnings.length) result.status = 'warn';
      return { ...result, durationMs: Date.now() - started };
    } finally {
      await transport.close().catch(() => {});
    }
  } catch (e) {
    return {
      ...base,
      status: e instanceof UnreachableError ? 'unreachable' : 'error',
      error: errorMessage(e),
      warnings: [],
      durationMs: Date.now() - started,
      stats,
    };
  }
}
