import { InfraError } from '../errors.js';
import type { Host, Inventory } from '../inventory/types.js';
import { shq } from '../quote.js';
import { planHost } from '../roles/index.js';
import { asRoot, opensshFor, runOpenssh } from '../transport/openssh.js';
import { findHost, type GlobalOptions, loadFor, redactorFor } from './shared.js';

export interface LogsOptions {
  follow?: boolean;
  since?: string;
  tail?: string;
  host?: string;
}

/** A compose project and service: an app's PostgreSQL is project APP, service db (src/tasks/postgres-app.ts). */
export interface LogSource {
  project: string;
  service: string;
}

const NAME = /^[a-z0-9][a-z0-9_.-]*$/;

/**
 * Pure: what `docker logs --since` accepts, as the daemon parses it (moby
 * api/types/time/timestamp.go, GetTimestamp): a Go duration (`90s`, `10m`, `1h30m`), an
 * RFC 3339 date or time (`2026-01-02`, `2026-01-02T15:04:05Z`), or Unix seconds.
 */
export function checkSince(value: string): string {
  const duration = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
  const date = /^\d{4}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}:\d{2})?$/;
  const unix = /^\d+(\.\d+)?$/;
  if (duration.test(value) || date.test(value) || unix.test(value)) return value;
  throw new InfraError(
    `--since ${JSON.stringify(value)}: expected a duration (10m, 1h, 1h30m), a date or time (2026-01-02, 2026-01-02T15:04:05Z) or Unix seconds`,
  );
}

/** Pure: `APP` or `STACK/SERVICE` -> the source and the hosts that may run it. */
export function resolveLogTarget(
  inv: Pick<Inventory, 'apps' | 'hosts' | 'file'>,
  target: string,
  stacksOf: (host: string) => string[],
): { source: LogSource; hosts: string[] } {
  const slash = target.indexOf('/');
  if (slash < 0) {
    const app = inv.apps.find((a) => a.name === target);
    if (!app)
      throw new InfraError(
        `${JSON.stringify(target)} is neither an app (apps: ${inv.apps.map((a) => a.name).join(', ') || 'none'}) nor STACK/SERVICE (e.g. glitchtip/web)`,
      );
    return { source: { project: app.name, service: 'db' }, hosts: [app.host] };
  }
  const project = target.slice(0, slash);
  const service = target.slice(slash + 1);
  if (!NAME.test(project) || !NAME.test(service))
    throw new InfraError(`${JSON.stringify(target)}: expected STACK/SERVICE, e.g. glitchtip/web`);
  const hosts = inv.hosts.map((h) => h.name).filter((h) => stacksOf(h).includes(project));
  if (!hosts.length) {
    const known = [...new Set(inv.hosts.flatMap((h) => stacksOf(h.name)))];
    throw new InfraError(`no host runs a stack ${JSON.stringify(project)} (stacks: ${known.join(', ')})`);
  }
  return { source: { project, service }, hosts };
}

/** Shell: the newest container of the service (compose labels), then `docker logs` on it. */
export function logsScript(src: LogSource, o: { follow?: boolean; since?: string; tail?: string }): string {
  const label = (k: string, v: string) => `--filter ${shq(`label=com.docker.compose.${k}=${v}`)}`;
  const flags = [
    ...(o.since ? ['--since', shq(o.since)] : []),
    ...(o.tail ? ['--tail', shq(o.tail)] : []),
    ...(o.follow ? ['--follow'] : []),
  ];
  return [
    `id=$(docker ps -aq ${label('project', src.project)} ${label('service', src.service)} | head -n1)`,
    `[ -n "$id" ] || { echo ${shq(`no container of ${src.project}/${src.service} on this host`)} >&2; exit 3; }`,
    `exec docker logs ${flags.join(' ')} "$id"`.replace(/ {2,}/g, ' '),
  ].join('\n');
}

/** The stacks a host's plan runs (their compose tasks are `stack:NAME`). */
function stacksOf(inv: Inventory): (host: string) => string[] {
  return (host) =>
    planHost(inv, host)
      .map((t) => /^stack:([^:]+)$/.exec(t.id)?.[1])
      .filter((s): s is string => !!s);
}

/** `infra logs TARGET`: docker logs on the target's host, streamed by OpenSSH (-f follows until Ctrl-C). */
export async function logs(g: GlobalOptions, target: string, o: LogsOptions): Promise<number> {
  const since = o.since === undefined ? undefined : checkSince(o.since);
  if (o.tail !== undefined && !/^(\d+|all)$/.test(o.tail))
    throw new InfraError(`--tail ${JSON.stringify(o.tail)}: expected a number of lines or all`);
  const inv = loadFor(g);
  const { source, hosts } = resolveLogTarget(inv, target, stacksOf(inv));
  let host: Host;
  if (o.host) {
    host = findHost(inv, o.host);
    if (!hosts.includes(host.name))
      throw new InfraError(`${target} does not run on ${host.name} (it runs on: ${hosts.join(', ')})`);
  } else if (hosts.length > 1)
    throw new InfraError(
      `${target} runs on several hosts (${hosts.join(', ')})`,
      `pick one: --host ${hosts[0]}`,
    );
  else host = findHost(inv, hosts[0]!);
  const script = logsScript(source, { follow: o.follow, since, tail: o.tail });
  // A terminal for -f when we have one, so Ctrl-C reaches `docker logs` on the host too.
  const tty = !!o.follow && !!process.stdin.isTTY && !!process.stdout.isTTY;
  return runOpenssh(await opensshFor(inv, host, { tty, remote: asRoot(host, script) }), redactorFor(inv));
}
