import type { Change, Probe, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { addressOf, unlessDocker } from './docker-reads.js';
import { probe, probeFields, probes, standalone } from './lib/probe.js';

/**
 * An HTTP endpoint a service must answer. It is asked from the host at the container's address
 * on the stack's network, not through a published port: it works whatever the service publishes
 * (the tailnet, loopback, nothing) and needs no curl inside the image (Loki's has no shell).
 */
export interface HealthCheck {
  service: string;
  port: number;
  path: string;
  /** `ok`: 2xx or 3xx (the default); `any`: any HTTP answer (a proxy with no routes says 404). */
  expect?: 'ok' | 'any';
}

/** service -> HTTP status, "000" when nothing answered, "none" when there is no running container. */
export type HealthState = Record<string, string>;

/**
 * Reads the services' addresses from the batch's shared reads (carried by the Probe) and asks every
 * service that runs with ONE curl (one start-up per stack, not per service), in order.
 */
export function healthCheckProbe(project: string, checks: readonly HealthCheck[]): Probe {
  const ask = checks.map((c) => {
    const address = addressOf(project, c.service, `${project}_default`);
    return probes(
      probe(`ip=$(${address.script})`, address.reads),
      `if [ -z "$ip" ]; then echo ${shq(c.service)} none; else names="$names "${shq(c.service)}; set -- "$@" -o /dev/null "http://$ip"${shq(`:${c.port}${c.path}`)}; fi`,
    );
  });
  return probes(
    unlessDocker(':'),
    'names=; set --',
    ...ask,
    '[ -n "$names" ] || exit 0',
    // A service that does not answer reads 000 (so does every one when curl is missing).
    `codes=$(curl -s -m 5 -w '%{http_code}\\n' "$@")`,
    'set -- $codes',
    `for n in $names; do echo "$n \${1:-000}"; [ $# -eq 0 ] || shift; done`,
  );
}

/** The probe's script alone (it expects $infra_containers and $infra_addresses set). */
export const healthProbe = (project: string, checks: readonly HealthCheck[]): string =>
  healthCheckProbe(project, checks).script;

export function parseHealth(stdout: string): HealthState {
  const st: HealthState = {};
  for (const line of stdout.split('\n')) {
    const [svc, code] = line.trim().split(/\s+/);
    if (svc && code) st[svc] = code;
  }
  return st;
}

export const isHealthy = (c: HealthCheck, code: string | undefined): boolean =>
  !!code && /^\d{3}$/.test(code) && code !== '000' && (c.expect === 'any' || /^[23]/.test(code));

export function diffHealth(project: string, checks: readonly HealthCheck[], st: HealthState): Change[] {
  return checks
    .filter((c) => !isHealthy(c, st[c.service]))
    .map((c) => {
      const code = st[c.service] ?? 'none';
      const why = code === 'none' ? 'no running container' : code === '000' ? 'no answer' : `HTTP ${code}`;
      return {
        summary: `stack ${project} service ${c.service} is not healthy: GET :${c.port}${c.path} → ${why}`,
        kind: 'stack-unhealthy',
        expected: c.expect === 'any' ? 'an HTTP answer' : '2xx/3xx',
        actual: code,
      };
    });
}

/**
 * Pure: the services whose running container answers badly or not at all. Those are restarted
 * once by apply (a hung process does not heal by waiting); a service with no running container
 * is the stack task's to start.
 */
export function answeringBadly(checks: readonly HealthCheck[], st: HealthState): string[] {
  return checks
    .filter((c) => (st[c.service] ?? 'none') !== 'none' && !isHealthy(c, st[c.service]))
    .map((c) => c.service);
}

/** Shell: the ids of a compose service's containers (`-q` running, `-aq` any state). */
function containerIds(project: string, service: string, which: '-q' | '-aq'): string {
  return `docker ps ${which} --filter ${shq(`label=com.docker.compose.project=${project}`)} --filter ${shq(`label=com.docker.compose.service=${service}`)}`;
}

function restartScript(project: string, services: readonly string[]): string {
  return services
    .map(
      (svc) => `ids=$(${containerIds(project, svc, '-q')})\n[ -z "$ids" ] || docker restart $ids >/dev/null`,
    )
    .join('\n');
}

/** Waits (bounded) for every check; on timeout names the services and prints their last log lines. */
export function waitHealthyScript(project: string, checks: readonly HealthCheck[], waitSec: number): string {
  const health = healthCheckProbe(project, checks);
  const ok = checks
    .map((c) => {
      const re = c.expect === 'any' ? '[1-5][0-9][0-9]' : '[23][0-9][0-9]';
      return `echo "$out" | grep -Eq ${shq(`^${c.service} ${re}$`)}`;
    })
    .join(' && ');
  return [
    `end=$(( $(date +%s) + ${waitSec} ))`,
    'while :; do',
    `  out=$( ${standalone(health)}\n)`,
    `  if ${ok}; then exit 0; fi`,
    '  [ "$(date +%s)" -lt "$end" ] || break',
    '  sleep 2',
    'done',
    `echo "stack ${project} is not healthy after ${waitSec}s: $(echo "$out" | tr '\\n' ' ')" >&2`,
    ...checks.map(
      (c) =>
        `docker logs --tail 15 $(${containerIds(project, c.service, '-aq')} | head -n1) >&2 2>&1 || true`,
    ),
    'exit 1',
  ].join('\n');
}

/** A stack's health: its project, what answers for it, how long a restart may take to be healthy. */
export interface StackHealth {
  project: string;
  checks: readonly HealthCheck[];
  /** Default 120. */
  waitSec?: number;
}

export function stackHealthTask(want: StackHealth, after: string[] = []): Task<HealthState> {
  const { project, checks, waitSec = 120 } = want;
  return {
    id: `stack:${project}:health`,
    after,
    ...probeFields(healthCheckProbe(project, checks)),
    parse: parseHealth,
    diff: (st) => diffHealth(project, checks, st),
    apply: (st) => [
      {
        script: [
          restartScript(project, answeringBadly(checks, st)),
          waitHealthyScript(project, checks, waitSec),
        ]
          .filter(Boolean)
          .join('\n'),
        timeoutMs: (waitSec + 120) * 1000,
      },
    ],
  };
}
