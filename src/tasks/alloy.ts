import type { Task } from '../engine/task.js';
import { type ComposeStack, composeText } from './compose-stack.js';
import { refusal } from './lib/refuse.js';
import { LOKI_PORT } from './observability.js';
import type { HealthCheck } from './stack-health.js';
import { STACK_IMAGES } from './stack-images.js';
import { ipv4, loadTemplate, setConfig, stackDir } from './stacks.js';

export const ALLOY = 'alloy';
export const alloyHealth: HealthCheck[] = [{ service: 'alloy', port: 12345, path: '/-/ready' }];

/**
 * Where Alloy finds Loki: on the control host, Loki itself on the observability stack's network
 * (no dependence on the tailnet being up); elsewhere the control host's learned tailnet address.
 */
export type LokiTarget = { kind: 'local' } | { kind: 'address'; address: string };

/** The observability stack's default network, which Alloy on the control host joins. */
export const OBSERVABILITY_NETWORK = 'observability_default';

export const lokiPushUrl = (address: string) => `http://${address}:${LOKI_PORT}/loki/api/v1/push`;

/**
 * Pure: UPSTREAM §7's docker-monitoring config. Alloy's syntax is not YAML; the one value put
 * into it (a URL built from a checked IPv4 address) is written as a quoted literal.
 */
export function renderAlloyConfig(pushUrl: string): string {
  return `// Rendered by infra (src/tasks/alloy.ts): Docker container logs -> Loki over the tailnet.
discovery.docker "local" {
  host = "unix:///var/run/docker.sock"
}

discovery.relabel "docker" {
  targets = []
  rule {
    source_labels = ["__meta_docker_container_name"]
    regex         = "/(.*)"
    target_label  = "container"
  }
  rule {
    source_labels = ["__meta_docker_container_label_com_docker_compose_project"]
    target_label  = "compose_project"
  }
  rule {
    target_label = "host"
    replacement  = constants.hostname
  }
}

loki.source.docker "containers" {
  host          = "unix:///var/run/docker.sock"
  targets       = discovery.docker.local.targets
  relabel_rules = discovery.relabel.docker.rules
  labels        = { "source" = "docker" }
  forward_to    = [loki.write.remote.receiver]
}

loki.write "remote" {
  endpoint {
    url = ${JSON.stringify(pushUrl)}
  }
}
`;
}

/** Pure: the Alloy stack of one host, or null when Loki's address is not a usable one. */
export function renderAlloy(hostName: string, target: LokiTarget): string | null {
  const addr = target.kind === 'local' ? 'loki' : ipv4(target.address);
  if (!addr) return null;
  const doc = loadTemplate(ALLOY);
  doc.setIn(['services', 'alloy', 'image'], STACK_IMAGES.alloy);
  // constants.hostname is the container's hostname: make it the host's, for the `host` label.
  doc.setIn(['services', 'alloy', 'hostname'], hostName);
  if (target.kind === 'local') {
    doc.setIn(['services', 'alloy', 'networks'], doc.createNode(['default', 'observability']));
    doc.setIn(['networks', 'observability'], doc.createNode({ name: OBSERVABILITY_NETWORK, external: true }));
  }
  setConfig(doc, 'alloy', renderAlloyConfig(lokiPushUrl(addr)), ['alloy']);
  return composeText(doc);
}

export function alloyStack(hostName: string, target: LokiTarget): ComposeStack {
  const rendered = renderAlloy(hostName, target);
  if (!rendered) throw new Error(`not an IPv4 address for Loki: ${JSON.stringify(target)}`);
  return { project: ALLOY, dir: stackDir(ALLOY), render: () => rendered, waitSec: 120 };
}

/**
 * Stands in for the Alloy stack on an apps host while the control host's tailnet address is
 * unknown (it is learned by `infra bootstrap <control>`): the plan says so, and apply reports it
 * waiting rather than failed. The apply step is never run (the engine does not apply a waiting
 * task); it refuses anyway, should a caller ever bypass that.
 */
export function lokiUnknownTask(want: { host: string; control: string }, after: string[] = []): Task<null> {
  const { host: hostName, control } = want;
  const why = `ship ${hostName}'s container logs to Loki on ${control}: ${control}'s tailnet address is not known yet — run: infra bootstrap ${control} first`;
  return {
    id: `stack:${ALLOY}`,
    after,
    probe: 'true',
    parse: () => null,
    diff: () => [
      { summary: why, kind: 'dependency-missing', expected: `${control} on the tailnet`, actual: null },
    ],
    apply: () => [refusal(why)],
    // An ordering wait, not a failure: the run exits 2 and says what to run (docs/bootstrap.md).
    wait: () => ({ on: control, run: `infra bootstrap ${control}` }),
  };
}
