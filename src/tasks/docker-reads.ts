import type { Probe, SharedRead } from '../engine/task.js';
import { shq } from '../quote.js';

/**
 * What Docker runs, read ONCE per probe batch and filtered by each probe (stacks, their health,
 * the exposure audit, orphan apps): one `docker ps` instead of one per stack, which is most of
 * what a check used to cost on a host with several stacks.
 */
const COLUMNS = {
  id: '{{.ID}}',
  name: '{{.Names}}',
  project: '{{.Label "com.docker.compose.project"}}',
  service: '{{.Label "com.docker.compose.service"}}',
  state: '{{.State}}',
  configHash: '{{.Label "com.docker.compose.config-hash"}}',
  image: '{{.Image}}',
  status: '{{.Status}}',
  ports: '{{.Ports}}',
  app: '{{.Label "io.infra.app"}}',
} as const;
type Column = keyof typeof COLUMNS;

/** The awk field of a column of CONTAINERS: `$3` for project. */
export const col = (c: Column): string => `$${Object.keys(COLUMNS).indexOf(c) + 1}`;

/** Every container, any state, one tab-separated line each; `@@nodocker` when Docker is not installed. */
export const CONTAINERS: SharedRead = {
  name: 'infra_containers',
  script: [
    'command -v docker >/dev/null 2>&1 || { echo @@nodocker; exit 0; }',
    `docker ps -a --no-trunc --format ${shq(Object.values(COLUMNS).join('\t'))}`,
  ].join('\n'),
};

/** Exits the probe with `line` when Docker is not installed. */
export const unlessDocker = (line: string): Probe => ({
  script: `[ "$infra_containers" != @@nodocker ] || { ${line}; exit 0; }`,
  reads: [CONTAINERS],
});

/**
 * A probe's filter of CONTAINERS: `awk` with `where` and `print` over the columns (`col()`),
 * and `-v` variables for the values compared (passed apart, so no value is parsed as awk).
 */
export function selectContainers(where: string, print: string, vars: Record<string, string> = {}): Probe {
  const v = Object.entries(vars).flatMap(([k, val]) => ['-v', shq(`${k}=${val}`)]);
  return {
    script: `printf '%s\\n' "$infra_containers" | awk -F '\\t' ${v.join(' ')} ${shq(`${where} { print ${print} }`)}`,
    reads: [CONTAINERS],
  };
}

/**
 * Running compose containers' addresses: `project<TAB>service<TAB>net=ip…`. Only the health
 * probes need it (they ask services at their address on the stack's network).
 */
export const CONTAINER_ADDRESSES: SharedRead = {
  name: 'infra_addresses',
  reads: [CONTAINERS],
  script: [
    `ids=$(${selectContainers(`${col('state')} == "running" && ${col('project')} != ""`, col('id')).script})`,
    '[ -z "$ids" ] || docker inspect -f ' +
      shq(
        '{{index .Config.Labels "com.docker.compose.project"}}\t{{index .Config.Labels "com.docker.compose.service"}}{{range $n, $e := .NetworkSettings.Networks}}\t{{$n}}={{$e.IPAddress}}{{end}}',
      ) +
      ' $ids',
  ].join('\n'),
};

/** Shell: the address of a running service of `project` on `network`, or nothing. */
export function addressOf(project: string, service: string, network: string): Probe {
  const script = `printf '%s\\n' "$infra_addresses" | awk -F '\\t' -v p=${shq(project)} -v s=${shq(service)} -v n=${shq(`${network}=`)} ${shq(
    '$1 == p && $2 == s { for (i = 3; i <= NF; i++) if (index($i, n) == 1) { print substr($i, length(n) + 1); exit } }',
  )}`;
  return { script, reads: [CONTAINER_ADDRESSES] };
}
