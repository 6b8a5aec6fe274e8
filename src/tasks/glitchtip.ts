import type { TunnelRoute } from '../inventory/schema.js';
import { type ComposeStack, composeText } from './compose-stack.js';
import type { SecretFile } from './host-secrets.js';
import type { HealthCheck } from './stack-health.js';
import { STACK_IMAGES } from './stack-images.js';
import { loadTemplate, publish, stackDir } from './stacks.js';

export const GLITCHTIP = 'glitchtip';
/** Published on loopback only: cloudflared, on the same host, is its one way in. */
export const GLITCHTIP_PORT = 8000;

export const glitchtipSecrets: SecretFile[] = [
  { name: 'pg_password', readBy: { image: STACK_IMAGES.glitchtipPostgres, user: 'postgres' } },
  { name: 'secret_key', readBy: { image: STACK_IMAGES.glitchtip } },
  {
    name: 'database_url',
    readBy: { image: STACK_IMAGES.glitchtip },
    from: { format: 'postgres://glitchtip:%s@postgres:5432/glitchtip', sources: ['pg_password'] },
  },
];

export const glitchtipHealth: HealthCheck[] = [{ service: 'web', port: GLITCHTIP_PORT, path: '/_health/' }];

const LOCAL = /^https?:\/\/(localhost|127\.0\.0\.1)(:(\d+))?\/?$/;

/**
 * Pure: GlitchTip's public URL is the tunnel route that reaches it (the route whose service is
 * GlitchTip's loopback port); without one, the loopback URL, which only the host itself can use.
 */
export function glitchtipDomain(routes: readonly TunnelRoute[]): string {
  const route = routes.find((r) => {
    const m = LOCAL.exec(r.service);
    return m && Number(m[3] ?? 80) === GLITCHTIP_PORT;
  });
  return route ? `https://${route.hostname}` : `http://localhost:${GLITCHTIP_PORT}`;
}

/** Pure: the environment shared by migrate, web and worker (upstream's x-environment anchor). */
export function glitchtipEnvironment(domain: string): Record<string, string> {
  return {
    DATABASE_URL_FILE: '/run/secrets/database_url',
    SECRET_KEY_FILE: '/run/secrets/secret_key',
    VALKEY_URL: 'redis://valkey:6379',
    GLITCHTIP_DOMAIN: domain,
    DEFAULT_FROM_EMAIL: `glitchtip@${new URL(domain).hostname}`,
    EMAIL_URL: 'consolemail://',
    PORT: String(GLITCHTIP_PORT),
  };
}

export function renderGlitchtip(routes: readonly TunnelRoute[]): string {
  const doc = loadTemplate(GLITCHTIP);
  const env = glitchtipEnvironment(glitchtipDomain(routes));
  doc.setIn(['services', 'postgres', 'image'], STACK_IMAGES.glitchtipPostgres);
  doc.setIn(['services', 'valkey', 'image'], STACK_IMAGES.valkey);
  for (const svc of ['migrate', 'web', 'worker']) {
    doc.setIn(['services', svc, 'image'], STACK_IMAGES.glitchtip);
    doc.setIn(['services', svc, 'environment'], doc.createNode(env));
  }
  doc.setIn(
    ['services', 'web', 'ports'],
    doc.createNode([publish('127.0.0.1', GLITCHTIP_PORT, GLITCHTIP_PORT)]),
  );
  return composeText(doc);
}

export function glitchtipStack(routes: readonly TunnelRoute[]): ComposeStack {
  return {
    project: GLITCHTIP,
    dir: stackDir(GLITCHTIP),
    render: () => renderGlitchtip(routes),
    waitSec: 300,
  };
}
