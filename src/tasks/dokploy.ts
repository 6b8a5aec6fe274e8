import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import type { SecretFile } from './host-secrets.js';
import { sections } from './lib/parse.js';
import { refusal } from './lib/refuse.js';
import { STACK_IMAGES } from './stack-images.js';
import { ipv4, TAILNET_VARS_PROBE } from './stacks.js';

export const DOKPLOY = 'dokploy';
export const DOKPLOY_NETWORK = 'dokploy-network';

export const dokploySecrets: SecretFile[] = [
  { name: 'dokploy_postgres_password', readBy: { image: STACK_IMAGES.dokployPostgres, user: 'postgres' } },
  { name: 'dokploy_auth_secret', readBy: { image: STACK_IMAGES.dokploy } },
  // The owner's password: read on the host only (infra signs up and in with it).
  { name: 'dokploy_owner_password', readBy: { image: STACK_IMAGES.dokploy } },
];

export interface SwarmState {
  docker: boolean;
  /** docker info's Swarm.LocalNodeState: inactive | pending | active | error | locked. */
  swarm: string;
  /** "overlay true" when the attachable overlay exists, "" when it does not. */
  network: string;
  tailnet?: string;
}

export const SWARM_PROBE = [
  'command -v docker >/dev/null 2>&1 || { echo @@nodocker; exit 0; }',
  'echo @@swarm',
  // A manager answers `node inspect self` (half the cost of `docker info`, which also asks
  // every CLI plugin about itself); any other node says its state through `docker info`.
  "docker node inspect self -f '{{.Status.State}}' >/dev/null 2>&1 && echo active || docker info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null",
  'echo @@network',
  `docker network inspect -f '{{.Driver}} {{.Attachable}}' ${DOKPLOY_NETWORK} 2>/dev/null || true`,
  'echo @@tailnet',
  TAILNET_VARS_PROBE,
].join('\n');

export function parseSwarm(stdout: string): SwarmState {
  const s = sections(stdout);
  return {
    docker: !s.has('nodocker'),
    swarm: (s.get('swarm') ?? '').trim(),
    network: (s.get('network') ?? '').trim(),
    tailnet: ipv4((s.get('tailnet') ?? '').trim().replace(/^tailnet=/, '')),
  };
}

/**
 * Pure. An active swarm is left exactly as it is (the install script's `docker swarm leave
 * --force` is what this replaces); only an inactive one is initialised, on the tailnet address.
 */
export function diffSwarm(st: SwarmState): Change[] {
  if (!st.docker)
    return [{ summary: 'prepare Dokploy (docker is not installed yet)', kind: 'swarm-missing' }];
  const changes: Change[] = [];
  if (st.swarm === 'inactive')
    changes.push({
      summary: `initialise a Docker swarm for Dokploy, advertised on the tailnet address ${st.tailnet ?? '(none yet)'}`,
      kind: 'swarm-inactive',
      expected: 'active',
      actual: 'inactive',
    });
  else if (st.swarm !== 'active')
    changes.push({
      summary: `the Docker swarm is ${st.swarm || 'unknown'}: infra leaves a swarm it did not make to the operator (docker info)`,
      kind: 'swarm-foreign',
      expected: 'active',
      actual: st.swarm,
    });
  if (st.network !== 'overlay true')
    changes.push({
      summary: `create the attachable overlay network ${DOKPLOY_NETWORK}`,
      kind: 'network-missing',
      expected: 'overlay true',
      actual: st.network || null,
    });
  return changes;
}

/** Why infra will not touch this swarm (tasks/lib/refuse.ts), if it will not. */
export function swarmRefusal(st: SwarmState): string | undefined {
  if (st.swarm === 'inactive')
    return st.tailnet
      ? undefined
      : 'no tailnet address yet: the swarm is only ever advertised on the tailnet';
  if (st.swarm !== 'active')
    return `the Docker swarm is ${st.swarm}: resolve it by hand; infra never leaves or re-creates a swarm`;
  return undefined;
}

export function swarmScript(st: SwarmState): string {
  const refused = swarmRefusal(st);
  if (refused) return refusal(refused).script;
  const lines = ['set -e'];
  if (st.swarm === 'inactive' && st.tailnet) {
    // Checked again here, at the last moment: a swarm is never re-initialised, never left.
    lines.push(
      `if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" = inactive ]; then docker swarm init --advertise-addr ${shq(st.tailnet)} --listen-addr ${shq(`${st.tailnet}:2377`)} >/dev/null; fi`,
    );
  }
  if (st.network !== 'overlay true')
    lines.push(
      `docker network inspect ${DOKPLOY_NETWORK} >/dev/null 2>&1 || docker network create --driver overlay --attachable ${DOKPLOY_NETWORK} >/dev/null`,
    );
  // No traefik.yml seed: Dokploy writes its own default only when none exists
  // (packages/server/src/setup/traefik-setup.ts createDefaultTraefikConfig), and a seed without
  // its swarm provider and letsencrypt resolver would shut that default out for good.
  lines.push('mkdir -p /etc/dokploy');
  return lines.join('\n');
}

export function dokploySwarmTask(after: string[]): Task<SwarmState> {
  return {
    id: `stack:${DOKPLOY}:swarm`,
    after,
    probe: SWARM_PROBE,
    parse: parseSwarm,
    diff: diffSwarm,
    apply: (st) => {
      const refused = swarmRefusal(st);
      return [refused ? refusal(refused) : { script: swarmScript(st), timeoutMs: 120_000 }];
    },
  };
}
