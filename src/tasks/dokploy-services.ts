import type { Change } from '../engine/task.js';
import { shq } from '../quote.js';
import { STACK_IMAGES } from './stack-images.js';
import { mountArg, publishArg, type ServiceSpec, specDelta } from './swarm-spec.js';

/**
 * Dokploy as its installer creates it (Dokploy/website apps/website/public/install.sh, read at
 * the v0.30.2 release): swarm services `dokploy-postgres` and `dokploy` on the attachable overlay
 * `dokploy-network`, the Docker secrets mounted where Dokploy's code reads them
 * (packages/server/src/db/constants.ts POSTGRES_PASSWORD_FILE, lib/auth-secret.ts
 * BETTER_AUTH_SECRET_FILE), and the `dokploy-traefik` container. Pure: specs and their diff.
 */
export const PG_SERVICE = 'dokploy-postgres';
export const APP_SERVICE = 'dokploy';
export const TRAEFIK_CONTAINER = 'dokploy-traefik';
export const NETWORK = 'dokploy-network';
export const SECRET_LABEL = 'io.infra.sha256';
/** Dokploy's and its Traefik's host ports: on every address, so closed by DOCKER-USER unless public_ports. */
export const DOKPLOY_PORTS = [80, 443, 3000] as const;

/** The Docker secrets (named as the installer names them) and the host files they are made from. */
export const DOCKER_SECRETS = ['dokploy_postgres_password', 'dokploy_auth_secret'] as const;

/**
 * The installer's ENDPOINT_MODE=dnsrr ("kernels without IPVS", and its Proxmox-LXC default):
 * service names resolve to the task's address instead of a virtual IP balanced by IPVS. One
 * replica each, so the VIP balances nothing; dnsrr works on every kernel (the lab's hosts have
 * no IPVS, so there a VIP never answers) and with host-mode ports.
 */
const ENDPOINT_MODE = 'dnsrr';

export function desiredServices(): ServiceSpec[] {
  const pgSecret = { source: 'dokploy_postgres_password', target: '/run/secrets/postgres_password' };
  return [
    {
      name: PG_SERVICE,
      image: STACK_IMAGES.dokployPostgres,
      env: [
        'POSTGRES_DB=dokploy',
        'POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password',
        'POSTGRES_USER=dokploy',
      ],
      secrets: [pgSecret],
      ports: [],
      networks: [NETWORK],
      mounts: [{ type: 'volume', source: 'dokploy-postgres', target: '/var/lib/postgresql/data' }],
      endpointMode: ENDPOINT_MODE,
    },
    {
      name: APP_SERVICE,
      image: STACK_IMAGES.dokploy,
      // RELEASE_TAG=latest: what the installer sets for a vX.Y.Z version (its update check).
      env: [
        'BETTER_AUTH_SECRET_FILE=/run/secrets/dokploy_auth_secret',
        'POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password',
        'RELEASE_TAG=latest',
      ],
      secrets: [pgSecret, { source: 'dokploy_auth_secret', target: '/run/secrets/dokploy_auth_secret' }],
      // Host mode, as the installer: swarm cannot bind a host-mode port to one address (it is on
      // every address); the DOCKER-USER rules keep it from the public address (docs/stacks.md).
      ports: [{ published: 3000, target: 3000, protocol: 'tcp', mode: 'host' }],
      networks: [NETWORK],
      mounts: [
        { type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' },
        { type: 'bind', source: '/etc/dokploy', target: '/etc/dokploy' },
        { type: 'volume', source: 'dokploy', target: '/root/.docker' },
      ],
      endpointMode: ENDPOINT_MODE,
    },
  ];
}

/** Shell: `docker service create` for a spec, the installer's flags; `withPorts` false holds them back. */
export function createServiceCmd(s: ServiceSpec, withPorts: boolean): string {
  const args = [
    'service',
    'create',
    '--detach',
    '--no-resolve-image',
    '--name',
    s.name,
    '--replicas',
    '1',
    '--constraint',
    'node.role==manager',
    '--endpoint-mode',
    s.endpointMode,
    ...s.networks.flatMap((n) => ['--network', n]),
    ...s.env.flatMap((e) => ['--env', e]),
    ...s.secrets.flatMap((x) => ['--secret', `source=${x.source},target=${x.target}`]),
    ...s.mounts.flatMap((m) => ['--mount', mountArg(m)]),
    ...(withPorts ? s.ports.flatMap((p) => ['--publish', publishArg(p)]) : []),
    ...(s.name === APP_SERVICE ? ['--update-parallelism', '1', '--update-order', 'stop-first'] : []),
    s.image,
  ];
  return `docker ${args.map(shq).join(' ')} >/dev/null`;
}

export interface DokployState {
  docker: boolean;
  services: Record<string, ServiceSpec | null>;
  /** service -> "1/1" (running/desired). */
  replicas: Record<string, string>;
  /** secret -> its io.infra.sha256 label ("" unlabelled), absent when missing. */
  secrets: Record<string, string>;
  /** secret -> sha256 of the host file it is made from ("" when the file is missing). */
  files: Record<string, string>;
  /** dokploy-traefik: docker's State.Status, or "missing". */
  traefik: string;
  /** Dokploy's answer to a sign-in with infra's owner password: 200, 401, or 000 (not running). */
  owner: string;
  /** A compose project "dokploy" (infra's earlier layout) still has containers. */
  compose: boolean;
}

/** Pure: what differs from Dokploy as installed, for what infra owns only (docs/stacks.md). */
export function diffDokploy(st: DokployState, ownerEmail: string | undefined): Change[] {
  if (!st.docker)
    return [{ summary: 'install Dokploy (docker is not installed yet)', kind: 'dokploy-missing' }];
  const out: Change[] = [];
  if (!ownerEmail)
    out.push({
      summary: 'Dokploy needs its owner before it is published: set dokploy.owner_email in the inventory',
      kind: 'owner-email-missing',
    });
  if (st.compose)
    out.push({
      summary:
        'replace the compose deployment "dokploy" by the installer\'s swarm services (its volumes are kept)',
      kind: 'compose-legacy',
    });
  for (const name of DOCKER_SECRETS) {
    const label = st.secrets[name];
    if (label === undefined) out.push({ summary: `create docker secret ${name}`, kind: 'secret-missing' });
    else if (label !== st.files[name])
      out.push({
        summary: `docker secret ${name} does not hold infra's file (made outside infra?): docker secrets are immutable, rotate it by hand`,
        kind: 'secret-foreign',
      });
  }
  for (const want of desiredServices()) {
    const have = st.services[want.name];
    if (!have) {
      out.push({ summary: `create swarm service ${want.name} (${want.image})`, kind: 'service-missing' });
      continue;
    }
    const { why } = specDelta(have, want);
    if (why.length)
      out.push({
        summary: `update swarm service ${want.name}: ${why.join(', ')}`,
        kind: 'service-spec',
        actual: why,
      });
    else if (st.replicas[want.name] !== '1/1')
      out.push({
        summary: `swarm service ${want.name} is not running (${st.replicas[want.name] ?? '0/1'} tasks)`,
        kind: 'service-down',
      });
  }
  if (ownerEmail && st.owner !== '200' && st.services[APP_SERVICE])
    out.push({
      summary:
        st.owner === '000'
          ? `Dokploy's owner ${ownerEmail}: Dokploy is not answering`
          : `create Dokploy's owner ${ownerEmail} (sign-in refused: ${st.owner})`,
      kind: 'owner-missing',
    });
  if (st.traefik !== 'running')
    out.push({
      summary: `${st.traefik === 'missing' ? 'create' : 'start'} container ${TRAEFIK_CONTAINER} (${st.traefik})`,
      kind: 'traefik',
    });
  return out;
}
