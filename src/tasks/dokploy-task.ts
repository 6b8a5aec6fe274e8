import type { Task } from '../engine/task.js';
import { shq } from '../quote.js';
import {
  APP_SERVICE,
  createServiceCmd,
  DOCKER_SECRETS,
  type DokployState,
  desiredServices,
  diffDokploy,
  NETWORK,
  SECRET_LABEL,
  TRAEFIK_CONTAINER,
} from './dokploy-services.js';
import { sections } from './lib/parse.js';
import { refusal } from './lib/refuse.js';
import { STACK_IMAGES } from './stack-images.js';
import { parseServiceSpec, specDelta } from './swarm-spec.js';

/** How long apply waits for Dokploy to answer (its own wait-for-postgres allows 120 s). */
export const DOKPLOY_WAIT_SEC = 150;
const OWNER_FILE = 'dokploy_owner_password';

/**
 * Shell helpers shared by probe and apply. Dokploy is asked from inside its own task container
 * (`docker exec … curl`: the image's HEALTHCHECK uses curl, Dockerfile at v0.30.2), so infra can
 * talk to it before port 3000 is published — the owner exists before anything can reach it.
 * The password goes through stdin, never argv.
 */
function helpers(dir: string, email: string): string {
  return [
    `dk_cid() { docker ps -q --no-trunc -f label=com.docker.swarm.service.name=${APP_SERVICE} -f status=running | head -n1; }`,
    'dk_post() { cid=$(dk_cid); [ -n "$cid" ] || { echo 000; return 0; }; c=$(docker exec -i "$cid" curl -s -m 10 -o /dev/null -w \'%{http_code}\' -X POST -H \'content-type: application/json\' --data-binary @- "http://localhost:3000$1" 2>/dev/null) || true; [ -n "$c" ] || c=000; echo "$c"; }',
    `dk_owner() { printf '{"email":"%s","password":"%s","name":"owner"}' ${shq(email)} "$(cat ${shq(`${dir}/${OWNER_FILE}`)} 2>/dev/null)"; }`,
    'dk_health() { cid=$(dk_cid); [ -n "$cid" ] && docker exec "$cid" curl -fs -m 5 -o /dev/null http://localhost:3000/api/trpc/settings.health 2>/dev/null; }',
  ].join('\n');
}

export function dokployProbe(dir: string, email: string): string {
  return [
    'command -v docker >/dev/null 2>&1 || { echo @@nodocker; exit 0; }',
    helpers(dir, email),
    'echo @@net',
    `docker network inspect -f '{{.Id}}' ${NETWORK} 2>/dev/null || true`,
    ...desiredServices().flatMap((s) => [
      `echo @@svc-${s.name}`,
      `docker service inspect -f '{{json .Spec}}' ${s.name} 2>/dev/null || true`,
    ]),
    'echo @@replicas',
    "docker service ls --format '{{.Name}} {{.Replicas}}' 2>/dev/null || true",
    'echo @@secrets',
    ...DOCKER_SECRETS.map(
      (x) =>
        `docker secret inspect -f '{{.Spec.Name}} {{index .Spec.Labels "${SECRET_LABEL}"}}' ${x} 2>/dev/null || true`,
    ),
    'echo @@files',
    ...DOCKER_SECRETS.map((x) => {
      const f = shq(`${dir}/${x}`);
      return `[ ! -s ${f} ] || echo "${x} $(sha256sum < ${f} | cut -d' ' -f1)"`;
    }),
    'echo @@traefik',
    `docker inspect -f '{{.State.Status}}' ${TRAEFIK_CONTAINER} 2>/dev/null || echo missing`,
    'echo @@compose',
    'docker ps -aq --filter label=com.docker.compose.project=dokploy | head -n1',
    'echo @@owner',
    'dk_owner | dk_post /api/auth/sign-in/email',
  ].join('\n');
}

const pairs = (text: string | undefined): Record<string, string> =>
  Object.fromEntries(
    (text ?? '')
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((w) => w[0])
      .map(([k = '', v = '']) => [k, v === '<no' ? '' : v]),
  );

export function parseDokploy(stdout: string): DokployState {
  const s = sections(stdout);
  const netId = (s.get('net') ?? '').trim();
  const networks = netId ? { [netId]: NETWORK } : {};
  return {
    docker: !s.has('nodocker'),
    services: Object.fromEntries(
      desiredServices().map((d) => [d.name, parseServiceSpec(s.get(`svc-${d.name}`) ?? '', networks)]),
    ),
    replicas: pairs(s.get('replicas')),
    secrets: pairs(s.get('secrets')),
    files: pairs(s.get('files')),
    traefik: (s.get('traefik') ?? '').trim() || 'missing',
    owner: (s.get('owner') ?? '').trim() || '000',
    compose: (s.get('compose') ?? '').trim() !== '',
  };
}

/**
 * Failed tasks of one wait before it gives up early. Dokploy waits for its database by itself
 * (up to 120 s, see DOKPLOY_WAIT_SEC), so a task that exits is not a slow start but a fault (a
 * wrong password, a missing secret): swarm restarts it every 5 s (its default restart delay), and
 * waiting the full bound would only delay the same error lines.
 */
export const DOKPLOY_CRASHES = 4;

/**
 * The wait for Dokploy: its health answer, bounded; on timeout, or once the service has failed
 * DOKPLOY_CRASHES new tasks, the tasks' errors and logs, naming the stack. Failed tasks are told
 * apart by ID (swarm keeps the last 5 per slot), so ones from before the wait do not count.
 */
function waitScript(what: string): string {
  const failedIds = `docker service ps --format '{{.ID}} {{.CurrentState}}' ${APP_SERVICE} 2>/dev/null | awk '$2 == "Failed" { print $1 }'`;
  const giveUp = (why: string) => [
    `    echo ${shq(`stack dokploy: service ${APP_SERVICE} ${why} (${what}); its tasks and last log lines:`)} >&2`,
    `    docker service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' ${APP_SERVICE} 2>&1 | head -n 5 >&2`,
    `    docker service logs --raw --tail 15 ${APP_SERVICE} 2>&1 | tail -n 15 >&2`,
    '    exit 1',
  ];
  return [
    `end=$(( $(date +%s) + ${DOKPLOY_WAIT_SEC} ))`,
    `failed_before=$(${failedIds})`,
    `until [ "$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' ${APP_SERVICE})" != updating ] && dk_health; do`,
    '  if [ "$(date +%s)" -ge "$end" ]; then',
    ...giveUp(`is not answering after ${DOKPLOY_WAIT_SEC}s`),
    '  fi',
    `  if [ "$(${failedIds} | grep -cvxF -e "$failed_before")" -ge ${DOKPLOY_CRASHES} ]; then`,
    ...giveUp(`is crash-looping: ${DOKPLOY_CRASHES} of its tasks failed`),
    '  fi',
    '  sleep 2',
    'done',
  ].join('\n');
}

export function applyDokploy(
  st: DokployState,
  dir: string,
  email: string,
  publicPorts: readonly number[],
): string {
  const refused = dokployRefusal(st, dir, email);
  if (refused) return refusal(refused).script;
  const lines = ['set -e', helpers(dir, email)];
  if (st.compose)
    lines.push(
      'ids=$(docker ps -aq --filter label=com.docker.compose.project=dokploy)',
      '[ -z "$ids" ] || docker rm -f $ids >/dev/null',
      `rm -f ${shq(`${dir}/compose.yaml`)} ${shq(`${dir}/.config-hash`)}`,
    );
  for (const x of DOCKER_SECRETS) {
    const f = shq(`${dir}/${x}`);
    lines.push(
      `docker secret inspect ${x} >/dev/null 2>&1 || docker secret create --label ${SECRET_LABEL}="$(sha256sum < ${f} | cut -d' ' -f1)" ${x} ${f} >/dev/null`,
    );
  }
  // Until the owner answers a sign-in, Dokploy's port stays unpublished (no takeover window).
  const ownerOk = st.owner === '200';
  for (const want of desiredServices()) {
    const have = st.services[want.name];
    const phase1 = want.name === APP_SERVICE && !ownerOk ? { ...want, ports: [] } : want;
    if (!have) lines.push(createServiceCmd(phase1, true));
    else {
      const { args } = specDelta(have, phase1);
      if (args.length)
        lines.push(`docker service update --detach ${args.map(shq).join(' ')} ${want.name} >/dev/null`);
    }
  }
  lines.push(waitScript('before publishing'));
  lines.push(
    'if [ "$(dk_owner | dk_post /api/auth/sign-in/email)" != 200 ]; then',
    '  code=$(dk_owner | dk_post /api/auth/sign-up/email)',
    `  [ "$code" = 200 ] || { echo ${shq(`stack dokploy: Dokploy refused to create the owner ${email} (HTTP `)}"$code"${shq('): an owner infra did not create exists? Port 3000 stays unpublished.')} >&2; exit 1; }`,
    'fi',
    `if ! docker service inspect -f '{{json .Spec.EndpointSpec}}' ${APP_SERVICE} | grep -q '"PublishedPort":3000'; then`,
    `  docker service update --detach --publish-add published=3000,target=3000,protocol=tcp,mode=host ${APP_SERVICE} >/dev/null`,
    '  sleep 2',
    'fi',
    waitScript('after publishing'),
  );
  // Dokploy writes its own traefik.yml when none exists (traefik-setup.ts); Traefik starts on it.
  const addr = (p: number) => (publicPorts.includes(p) ? '' : '127.0.0.1:');
  lines.push(
    'i=0; until [ -f /etc/dokploy/traefik/traefik.yml ]; do i=$((i+1)); [ $i -lt 30 ] || { echo "stack dokploy: Dokploy wrote no /etc/dokploy/traefik/traefik.yml" >&2; exit 1; }; sleep 1; done',
    // Not `$(… || echo missing)`: a failed inspect still prints an empty line first.
    `state=$(docker inspect -f '{{.State.Status}}' ${TRAEFIK_CONTAINER} 2>/dev/null) || state=missing`,
    'if [ "$state" = missing ]; then',
    `  docker run -d --name ${TRAEFIK_CONTAINER} --restart always --network ${NETWORK} --label io.infra.created=1 -v /etc/dokploy/traefik/traefik.yml:/etc/traefik/traefik.yml -v /etc/dokploy/traefik/dynamic:/etc/dokploy/traefik/dynamic -v /var/run/docker.sock:/var/run/docker.sock:ro -p ${addr(80)}80:80/tcp -p ${addr(443)}443:443/tcp -p ${addr(443)}443:443/udp ${shq(STACK_IMAGES.traefik)} >/dev/null`,
    `elif [ "$state" != running ]; then docker start ${TRAEFIK_CONTAINER} >/dev/null; fi`,
  );
  return lines.join('\n');
}

/**
 * Dokploy's services, secrets, owner and Traefik container. `check` compares only what infra
 * owns (docs/stacks.md): Traefik's files and the container's spec once running are Dokploy's.
 */
/** Why infra will not converge Dokploy as probed (tasks/lib/refuse.ts), if it will not. */
export function dokployRefusal(st: DokployState, dir: string, email: string | undefined): string | undefined {
  if (!email)
    return 'stack dokploy: set dokploy.owner_email in the inventory (Dokploy is never published before its owner exists)';
  const foreign = DOCKER_SECRETS.filter((x) => st.secrets[x] !== undefined && st.secrets[x] !== st.files[x]);
  if (foreign.length)
    return `stack dokploy: docker secret ${foreign.join(', ')} does not hold infra's file under ${dir}; docker secrets are immutable: rotate by hand (docs/stacks.md)`;
  return undefined;
}

export function dokployTask(
  want: { dir: string; email: string | undefined; publicPorts: readonly number[] },
  after: string[] = [],
): Task<DokployState> {
  const { dir, email, publicPorts } = want;
  return {
    id: 'stack:dokploy',
    after,
    probe: dokployProbe(dir, email ?? ''),
    parse: parseDokploy,
    diff: (st) => diffDokploy(st, email),
    apply: (st) => {
      const refused = dokployRefusal(st, dir, email);
      if (refused || !email) return [refusal(refused ?? '')];
      return [
        { script: applyDokploy(st, dir, email, publicPorts), timeoutMs: (DOKPLOY_WAIT_SEC * 2 + 120) * 1000 },
      ];
    },
  };
}
