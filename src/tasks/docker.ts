import type { Change, Task } from '../engine/task.js';
import type { Inventory } from '../inventory/types.js';
import { col, selectContainers, unlessDocker } from './docker-reads.js';
import { type DesiredFile, fileTask } from './file.js';
import { sections } from './lib/parse.js';
import { probeFields, probes } from './lib/probe.js';
import { refusal } from './lib/refuse.js';
import { OS_PROBE, type OsRelease, parseOsRelease } from './os-release.js';
import {
  diffPackages,
  installPackagesScript,
  missingPackages,
  PACKAGES_PRINT,
  type PackagesState,
  packagesRead,
  parseDpkgStatus,
} from './packages.js';

export const DOCKER_CE = [
  'docker-ce',
  'docker-ce-cli',
  'containerd.io',
  'docker-buildx-plugin',
  'docker-compose-plugin',
];
const CANDIDATES = [...DOCKER_CE, 'docker.io', 'docker-cli', 'docker-compose', 'docker-compose-v2'];

/**
 * Pure: engine, client and Compose v2 packages for this release. Distro packages: Debian 13's
 * docker-compose is Compose v2 (also the `docker compose` plugin); Ubuntu ships it as docker-compose-v2;
 * Debian 12's docker-compose is the old v1, so there the distro choice is refused.
 */
export function dockerPackagesFor(source: 'docker' | 'distro', os: OsRelease): string[] {
  if (source === 'docker') return DOCKER_CE;
  if (os.os === 'ubuntu') return ['docker.io', 'docker-compose-v2'];
  if (os.codename === 'bookworm')
    throw new Error('Debian 12 packages no Compose v2: set docker.source: docker in the inventory');
  // Debian 13 splits the client out of docker.io (only Recommended, and we install without those).
  return ['docker.io', 'docker-cli', 'docker-compose'];
}

export interface DockerPackagesState {
  os: OsRelease;
  packages: PackagesState;
}

export function dockerPackagesTask(
  source: 'docker' | 'distro',
  after: string[] = [],
): Task<DockerPackagesState> {
  return {
    id: 'packages:docker',
    after,
    probe: `echo @@os\n${OS_PROBE}\necho @@dpkg\n${PACKAGES_PRINT}`,
    reads: [packagesRead(CANDIDATES)],
    parse: (out) => {
      const s = sections(out);
      const os = parseOsRelease(s.get('os') ?? '');
      return { os, packages: parseDpkgStatus(s.get('dpkg') ?? '', dockerPackagesFor(source, os)) };
    },
    diff: (s) => diffPackages(s.packages),
    apply: (s) => [{ script: installPackagesScript(missingPackages(s.packages)), timeoutMs: 20 * 60_000 }],
  };
}

/**
 * The engine's config. "ip": "127.0.0.1" makes `-p 8080:80` (no address given) publish on
 * loopback only, so nothing reaches a public address unless a compose file names it; logs
 * rotate; the registry mirror (the lab's registry) is trusted over plain HTTP only if it is HTTP.
 */
export function daemonJson(inv: Pick<Inventory, 'docker' | 'upstream'>): string {
  const mirror = inv.upstream.registry_mirror;
  const doc: Record<string, unknown> = {
    ip: '127.0.0.1',
    'log-driver': 'json-file',
    'log-opts': { 'max-size': inv.docker.log_max_size, 'max-file': String(inv.docker.log_max_file) },
    ...(mirror ? { 'registry-mirrors': [mirror] } : {}),
    ...(mirror?.startsWith('http://') ? { 'insecure-registries': [new URL(mirror).host] } : {}),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Written before the engine is installed, so it starts with it; a change restarts a running engine. */
export function daemonJsonTask(inv: Pick<Inventory, 'docker' | 'upstream'>, after: string[] = []) {
  const want: DesiredFile = {
    path: '/etc/docker/daemon.json',
    content: daemonJson(inv),
    mode: '644',
    onChange: 'if systemctl is-active -q docker; then systemctl restart docker; fi',
  };
  return fileTask(want, after);
}

export interface Published {
  container: string;
  address: string;
  /** Host port, or first-last for a range. */
  ports: [number, number];
  proto: string;
}

/** Pure: `docker ps --format '{{.Names}}\t{{.Ports}}'` lines in, host-published ports out. */
export function parsePublished(stdout: string): Published[] {
  const out: Published[] = [];
  for (const line of stdout.split('\n')) {
    const [container, ports] = line.split('\t');
    if (!container || !ports) continue;
    for (const p of ports.split(',').map((x) => x.trim())) {
      const m = /^(.*):(\d+)(?:-(\d+))?->\d+(?:-\d+)?\/(\w+)$/.exec(p);
      if (!m) continue; // exposed but not published: "80/tcp"
      const first = Number(m[2]);
      out.push({ container, address: m[1]!, ports: [first, Number(m[3] ?? first)], proto: m[4]! });
    }
  }
  return out;
}

/** Loopback and the tailnet (100.64.0.0/10, fd7a:115c:a1e0::/48) are private; everything else is public. */
export function isPublicAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '');
  if (a === '::1' || a.startsWith('127.')) return false;
  const m = /^100\.(\d+)\./.exec(a);
  if (m && Number(m[1]) >= 64 && Number(m[1]) <= 127) return false;
  return !a.toLowerCase().startsWith('fd7a:115c:a1e0:');
}

/**
 * Binds whose address infra cannot choose, so the DOCKER-USER rules (ufw-docker.ts) are what keeps
 * them off the public address: Dokploy's swarm task publishes 3000 in host mode, which binds
 * every address (swarm has no host_ip), and Dokploy recreates dokploy-traefik with 80/443 on
 * every address (traefik-setup.ts initializeStandaloneTraefik sets HostPort only). Any other
 * port of these containers (Traefik's dashboard 8080, extra ports added in Dokploy) is reported.
 */
const FIREWALLED: { container: RegExp; ports: number[] }[] = [
  { container: /^dokploy\.\d+\.[a-z0-9]+$/, ports: [3000] },
  { container: /^dokploy-traefik$/, ports: [80, 443] },
];
export const firewalled = (p: Published) =>
  FIREWALLED.some(
    (f) => f.container.test(p.container) && p.ports[0] === p.ports[1] && f.ports.includes(p.ports[0]),
  );

export function diffExposure(published: Published[], allowed: number[]): Change[] {
  return published
    .filter((p) => isPublicAddress(p.address))
    .filter((p) => !firewalled(p))
    .filter((p) => {
      for (let port = p.ports[0]; port <= p.ports[1]; port++) if (!allowed.includes(port)) return true;
      return false;
    })
    .map((p) => {
      const port = p.ports[0] === p.ports[1] ? `${p.ports[0]}` : p.ports.join('-');
      return {
        summary: `container ${p.container} publishes ${port}/${p.proto} on ${p.address}, a public address (not in public_ports)`,
        kind: 'port-public',
        expected: null,
        actual: `${p.address}:${port}/${p.proto}`,
      };
    });
}

/**
 * Audit only: stopping someone's container is not ours to do. Apply fails with the fix; the
 * DOCKER-USER rules (ufw-docker task) keep such a port unreachable meanwhile.
 */
export function exposureTask(host: string, allowed: number[], after: string[] = []): Task<Published[]> {
  return {
    id: 'docker:exposure',
    after,
    ...probeFields(
      probes(
        unlessDocker(':'),
        selectContainers(`${col('ports')} != ""`, `${col('name')} "\\t" ${col('ports')}`),
      ),
    ),
    parse: parsePublished,
    diff: (p) => diffExposure(p, allowed),
    apply: (_s, changes) => [
      refusal(
        `${changes.map((c) => c.summary).join('; ')}: publish on 127.0.0.1 or the tailnet address, or list the port in hosts.${host}.public_ports (the firewall blocks it meanwhile)`,
      ),
    ],
  };
}
