import type { Task } from '../engine/task.js';
import type { FirewallRule } from '../inventory/schema.js';
import { firewalled, isPublicAddress, type Published, parsePublished } from './docker.js';
import { col, selectContainers } from './docker-reads.js';
import { sections } from './lib/parse.js';
import { probeFields, probes } from './lib/probe.js';

/** A listening socket (`ss -Hlntup`): its address, port, protocol and process. */
export interface Listener {
  proto: 'tcp' | 'udp';
  address: string;
  port: number;
  process: string;
}

export interface ServedState {
  /** undefined when the host has no `ss` (iproute2): then nothing is said. */
  listeners?: Listener[];
  published: Published[];
}

/** Pure: `ss -Hlntup` lines in (Netid State Recv-Q Send-Q Local Peer Process). */
export function parseListeners(stdout: string): Listener[] {
  const out: Listener[] = [];
  for (const line of stdout.split('\n')) {
    const f = line.trim().split(/\s+/);
    const proto = f[0];
    if ((proto !== 'tcp' && proto !== 'udp') || !f[4]) continue;
    const m = /^(.*):(\d+)$/.exec(f[4]);
    if (!m) continue;
    const address = m[1]!.replace(/%.*$/, '').replace(/^\[|\]$/g, '');
    out.push({ proto, address, port: Number(m[2]), process: /\(\("([^"]+)"/.exec(line)?.[1] ?? '' });
  }
  return out;
}

export function parseServed(stdout: string): ServedState {
  const s = sections(stdout);
  const ss = s.get('ss') ?? '';
  return {
    listeners: ss.trim() === 'none' ? undefined : parseListeners(ss),
    published: parsePublished(s.get('docker') ?? ''),
  };
}

const wildcard = (a: string) => a === '*' || a === '0.0.0.0' || a === '::';

/**
 * Pure: is `port/proto` answered on the host's public address? A socket bound to every address
 * or to a public one, except Docker's own proxy: for a published container port the question is
 * whether the publish reaches the public side, which the exposure audit decides (docker.ts: a
 * bind the DOCKER-USER rules close, like Dokploy's Traefik on 80/443, serves nobody outside).
 */
export function served(s: ServedState, port: number, proto: 'tcp' | 'udp'): boolean {
  const bySocket = (s.listeners ?? []).some(
    (l) =>
      l.port === port &&
      l.proto === proto &&
      l.process !== 'docker-proxy' &&
      (wildcard(l.address) || isPublicAddress(l.address)),
  );
  const byContainer = s.published.some(
    (p) =>
      p.proto === proto &&
      p.ports[0] <= port &&
      port <= p.ports[1] &&
      isPublicAddress(p.address) &&
      !firewalled(p),
  );
  return bySocket || byContainer;
}

/**
 * Pure: a warning per port the inventory's UFW rules open to everyone that nothing serves.
 * A warning, not drift (docs/bootstrap.md, "The 443/tcp rule"): the host is as the inventory
 * says, the operator wrote the rule, and apply has nothing to do; an open port with nothing
 * behind it is only an invitation for whatever listens there next.
 */
export function unservedWarnings(host: string, rules: readonly FirewallRule[], s: ServedState): string[] {
  if (!s.listeners) return [];
  return rules
    .filter((r) => r.port !== undefined && r.interface === undefined)
    .flatMap((r) =>
      (r.proto ? [r.proto] : (['tcp', 'udp'] as const)).every((p) => !served(s, r.port!, p))
        ? [
            `warning: UFW allows ${r.port}${r.proto ? `/${r.proto}` : ''} from anywhere (firewall.allow) but nothing on ${host} serves it publicly; a Cloudflare Tunnel needs no inbound port (docs/bootstrap.md)`,
          ]
        : [],
    );
}

/**
 * The exposure audit's other half: ports the firewall opens with nothing behind them. Reads the
 * host's listening sockets and Docker's published ports (the shared container read) in the
 * probe round trip; never drifts, only warns.
 */
export function servedTask(
  host: string,
  rules: readonly FirewallRule[],
  after: string[] = [],
): Task<ServedState> {
  return {
    id: 'ufw:served',
    after,
    ...probeFields(
      probes(
        'echo @@ss',
        // No ss, or ss failing: `none`, so nothing is said rather than a false "served by nothing".
        'if command -v ss >/dev/null 2>&1 && infra_ss=$(ss -Hlntup 2>/dev/null); then printf "%s\\n" "$infra_ss"; else echo none; fi',
        'echo @@docker',
        selectContainers(`${col('ports')} != ""`, `${col('name')} "\\t" ${col('ports')}`),
      ),
    ),
    parse: parseServed,
    diff: () => [],
    warnings: (s) => unservedWarnings(host, rules, s),
    apply: () => [],
  };
}
