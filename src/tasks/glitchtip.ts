import type { TunnelRoute } from '../inventory/schema.js';
import type { GlitchtipSettings } from '../inventory/types.js';
import { type ComposeStack, composeText } from './compose-stack.js';
import type { SecretFile } from './host-secrets.js';
import type { HealthCheck } from './stack-health.js';
import { STACK_IMAGES } from './stack-images.js';
import { loadTemplate, publish, stackDir } from './stacks.js';

export const GLITCHTIP = 'glitchtip';
/** Published on loopback only: cloudflared, on the same host, is its one way in. */
export const GLITCHTIP_PORT = 8000;
/**
 * Compose's project env file, beside compose.yaml: EMAIL_URL for web and worker, whose
 * environment names it without a value (src/tasks/glitchtip-mail.ts writes it).
 */
export const MAIL_ENV = '.env';

export const glitchtipSecrets: SecretFile[] = [
  { name: 'pg_password', readBy: { image: STACK_IMAGES.glitchtipPostgres, user: 'postgres' } },
  { name: 'secret_key', readBy: { image: STACK_IMAGES.glitchtip } },
  {
    name: 'database_url',
    readBy: { image: STACK_IMAGES.glitchtip },
    from: { format: 'postgres://glitchtip:%s@postgres:5432/glitchtip', sources: ['pg_password'] },
  },
  // The superuser's password (src/tasks/glitchtip-admin.ts): read on the host only, never mounted.
  { name: 'admin_password', readBy: { image: STACK_IMAGES.glitchtip } },
];

export const glitchtipHealth: HealthCheck[] = [{ service: 'web', port: GLITCHTIP_PORT, path: '/_health/' }];

const LOCAL = /^https?:\/\/(localhost|127\.0\.0\.1)(:(\d+))?\/?$/;

/** Pure: the public hostnames of the tunnel routes whose service is GlitchTip's loopback port. */
export function glitchtipHostnames(routes: readonly TunnelRoute[]): string[] {
  return routes
    .filter((r) => {
      const m = LOCAL.exec(r.service);
      return m && Number(m[3] ?? 80) === GLITCHTIP_PORT;
    })
    .map((r) => r.hostname);
}

/**
 * Pure: GlitchTip's public URL is the first tunnel route that reaches it; without one, the
 * loopback URL, which only the host itself can use.
 */
export function glitchtipDomain(routes: readonly TunnelRoute[]): string {
  const [first] = glitchtipHostnames(routes);
  return first ? `https://${first}` : `http://localhost:${GLITCHTIP_PORT}`;
}

/**
 * Pure: the origins Django's CSRF check must trust. cloudflared hands GlitchTip plain HTTP with
 * the public Host, and GlitchTip sets no SECURE_PROXY_SSL_HEADER, so Django's own origin is
 * `http://HOST` while the browser sends `Origin: https://HOST`: without this list every login
 * POST over the tunnel is refused (django/middleware/csrf.py, _origin_verified).
 */
export function csrfTrustedOrigins(routes: readonly TunnelRoute[]): string {
  const names = glitchtipHostnames(routes);
  return (names.length ? names.map((h) => `https://${h}`) : [glitchtipDomain(routes)]).join(',');
}

/**
 * Pure: the environment shared by migrate, web and worker (upstream's x-environment anchor),
 * read by glitchtip/settings.py (6.x): FileAwareEnv, so *_FILE works for SECRET_KEY and
 * DATABASE_URL. EMAIL_URL comes from the project's .env instead: settings.py tests
 * `os.getenv("EMAIL_URL")` before reading it, so an EMAIL_URL_FILE alone would be ignored.
 */
export function glitchtipEnvironment(
  routes: readonly TunnelRoute[],
  gt: Pick<GlitchtipSettings, 'openRegistration' | 'fromEmail'> = { openRegistration: false },
): Record<string, string> {
  const domain = glitchtipDomain(routes);
  return {
    DATABASE_URL_FILE: '/run/secrets/database_url',
    SECRET_KEY_FILE: '/run/secrets/secret_key',
    VALKEY_URL: 'redis://valkey:6379',
    GLITCHTIP_DOMAIN: domain,
    CSRF_TRUSTED_ORIGINS: csrfTrustedOrigins(routes),
    // Upstream's default is True: anyone reaching the public route could sign up.
    ENABLE_USER_REGISTRATION: gt.openRegistration ? 'true' : 'false',
    DEFAULT_FROM_EMAIL: gt.fromEmail ?? `glitchtip@${new URL(domain).hostname}`,
    PORT: String(GLITCHTIP_PORT),
  };
}

export function renderGlitchtip(routes: readonly TunnelRoute[], gt?: GlitchtipSettings): string {
  const doc = loadTemplate(GLITCHTIP);
  const env = glitchtipEnvironment(routes, gt);
  doc.setIn(['services', 'postgres', 'image'], STACK_IMAGES.glitchtipPostgres);
  doc.setIn(['services', 'valkey', 'image'], STACK_IMAGES.valkey);
  for (const svc of ['migrate', 'web', 'worker']) {
    doc.setIn(['services', svc, 'image'], STACK_IMAGES.glitchtip);
    // Web and worker send mail. A variable with no value is taken from the project's .env, and
    // left unset when .env has none (compose's `environment` semantics).
    const mail = svc === 'migrate' ? {} : { EMAIL_URL: null };
    doc.setIn(['services', svc, 'environment'], doc.createNode({ ...env, ...mail }));
  }
  doc.setIn(
    ['services', 'web', 'ports'],
    doc.createNode([publish('127.0.0.1', GLITCHTIP_PORT, GLITCHTIP_PORT)]),
  );
  return composeText(doc);
}

export function glitchtipStack(routes: readonly TunnelRoute[], gt?: GlitchtipSettings): ComposeStack {
  return {
    project: GLITCHTIP,
    dir: stackDir(GLITCHTIP),
    render: () => renderGlitchtip(routes, gt),
    waitSec: 300,
  };
}
