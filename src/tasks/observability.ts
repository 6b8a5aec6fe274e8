import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { type ComposeStack, composeText } from './compose-stack.js';
import type { SecretFile } from './host-secrets.js';
import type { HealthCheck } from './stack-health.js';
import { STACK_IMAGES } from './stack-images.js';
import {
  ipv4,
  loadTemplate,
  publish,
  setConfig,
  stackDir,
  TAILNET_VARS_PROBE,
  templatePath,
} from './stacks.js';

/** Loki and Grafana: one stack, because Grafana's datasource is Loki on the stack's network. */
export const OBSERVABILITY = 'observability';
export const LOKI_PORT = 3100;
/** Grafana on the tailnet; 3000 is Dokploy's (cloudflared reaches it on loopback). */
export const GRAFANA_PORT = 3001;

export const observabilitySecrets: SecretFile[] = [
  { name: 'grafana_admin_password', readBy: { image: STACK_IMAGES.grafana } },
];

export const observabilityHealth: HealthCheck[] = [
  { service: 'loki', port: LOKI_PORT, path: '/ready' },
  { service: 'grafana', port: 3000, path: '/api/health' },
];

/** Pure: Loki's config with the inventory's retention (compactor deletes older chunks). */
export function renderLokiConfig(retentionDays: number, template?: string): string {
  const doc = parseDocument(template ?? readFileSync(templatePath(OBSERVABILITY, 'loki.yaml'), 'utf8'));
  doc.setIn(['limits_config', 'retention_period'], `${retentionDays * 24}h`);
  return doc.toString();
}

export function renderDatasources(): string {
  return readFileSync(templatePath(OBSERVABILITY, 'datasources.yaml'), 'utf8');
}

/**
 * Pure: the stack for the control host. Loki and Grafana publish on the tailnet address only;
 * before the host has one they publish nothing (and Alloy elsewhere cannot ship yet).
 */
export function renderObservability(retentionDays: number, tailnet: string | undefined): string {
  const doc = loadTemplate(OBSERVABILITY);
  const addr = ipv4(tailnet);
  doc.setIn(['services', 'loki', 'image'], STACK_IMAGES.loki);
  doc.setIn(['services', 'grafana', 'image'], STACK_IMAGES.grafana);
  doc.setIn(['services', 'loki', 'ports'], doc.createNode(addr ? [publish(addr, LOKI_PORT, LOKI_PORT)] : []));
  doc.setIn(
    ['services', 'grafana', 'ports'],
    doc.createNode(addr ? [publish(addr, GRAFANA_PORT, 3000)] : []),
  );
  setConfig(doc, 'loki', renderLokiConfig(retentionDays), ['loki']);
  setConfig(doc, 'grafana-datasources', renderDatasources(), ['grafana']);
  return composeText(doc);
}

export function observabilityStack(retentionDays: number): ComposeStack {
  return {
    project: OBSERVABILITY,
    dir: stackDir(OBSERVABILITY),
    varsProbe: TAILNET_VARS_PROBE,
    render: (vars) => renderObservability(retentionDays, vars.tailnet),
    waitSec: 180,
  };
}
