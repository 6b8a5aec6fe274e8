import { z } from 'zod';
import { analyticsSchema } from './analytics.js';
import { backupsSchema } from './offsite.js';

/** Names reach shell commands, file paths and compose project names: one strict pattern each. */
export const HOST_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const APP_NAME = /^[a-z][a-z0-9-]{0,30}$/;
export const SECRET_REF = /^env:([A-Z_][A-Z0-9_]*)$/;
export const ROLES = ['control', 'apps'] as const;
export const PG_MAJORS = [14, 15, 16, 17, 18] as const;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const TUNNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const ACCESS_NAME = /^[a-z][a-z0-9-]{0,30}$/;

const secretRef = z
  .string()
  .regex(SECRET_REF, 'expected a reference like env:TS_AUTHKEY (secrets never live in the inventory)');
const hostname = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'expected a DNS name or an IP address');
const timezone = z.string().regex(/^[A-Za-z0-9_+/-]+$/, 'expected a tz name like Europe/Berlin');
const url = z.string().regex(/^https?:\/\/[^\s'"]+$/, 'expected an http:// or https:// URL');
const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'expected a Debian package name');

const ssh = z
  .object({
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]*$/, 'expected a Unix user name')
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    key: z.string().min(1).optional(),
  })
  .strict();

const firewallRule = z
  .object({
    port: z.number().int().min(1).max(65535).optional(),
    proto: z.enum(['tcp', 'udp']).optional(),
    interface: z
      .string()
      .regex(/^[a-z][a-z0-9]{0,14}$/, 'expected an interface name like tailscale0')
      .optional(),
  })
  .strict()
  .refine((r) => r.port !== undefined || r.interface !== undefined, 'a rule needs a port or an interface')
  .refine((r) => r.proto === undefined || r.port !== undefined, 'proto needs a port');

const tunnelRoute = z
  .object({
    hostname,
    service: z
      .string()
      .regex(
        /^(https?|tcp|ssh):\/\/[^\s'"]+$|^http_status:\d{3}$/,
        'expected a service URL like http://localhost:3000',
      ),
    /** A name under cloudflare.access: a Zero Trust Access application guards this hostname. */
    access: z.string().regex(ACCESS_NAME, 'expected the name of a policy under cloudflare.access').optional(),
  })
  .strict();

/**
 * The tunnel of a host. With `name`, the tunnel is remotely managed through Cloudflare's API
 * (cloudflare section): infra creates it, fetches its token and pushes `routes` as its remote
 * configuration. With `credentials`, it is locally managed: cloudflared reads `routes` from the
 * local config.yml. With only `token`, routes are refused: such a tunnel ignores local ingress.
 */
const tunnel = z
  .object({
    name: z
      .string()
      .regex(TUNNEL_NAME, 'expected a tunnel name: letters, digits, dots, dashes, underscores')
      .optional(),
    token: secretRef.optional(),
    id: z.string().regex(UUID, 'expected the tunnel UUID').optional(),
    credentials: secretRef.optional(),
    routes: z.array(tunnelRoute).default([]),
  })
  .strict();

const accessPolicy = z
  .object({
    /** Who is allowed in: an email domain (Google Workspace's), or single addresses. */
    email_domains: z
      .array(z.string().regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'expected a domain like sgl.as'))
      .default([]),
    emails: z
      .array(
        z.string().regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, 'expected an email address'),
      )
      .default([]),
    /** The login offered: an identity provider's UUID (Google Workspace is type google-apps). */
    identity_provider: z.string().regex(UUID, 'expected the identity provider UUID').optional(),
    session_duration: z
      .string()
      .regex(/^\d+(h|m)$/, 'expected a duration like 24h')
      .default('24h'),
  })
  .strict()
  .refine((p) => p.email_domains.length + p.emails.length > 0, 'a policy needs email_domains or emails');

const cloudflare = z
  .object({
    api_token: secretRef,
    account_id: z.string().regex(HEX32, 'expected the 32-hex-digit account ID (dashboard URL)'),
    /** The zones whose names routes may use, by name; their IDs are read from the API. */
    zones: z
      .array(z.string().regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'expected a zone name like sgl.as'))
      .min(1),
    access: z
      .record(
        z.string().regex(ACCESS_NAME, 'access policy names are lowercase letters, digits and dashes'),
        accessPolicy,
      )
      .default({}),
  })
  .strict();

const host = z
  .object({
    role: z.enum(ROLES),
    address: hostname,
    ssh: ssh.optional(),
    timezone: timezone.optional(),
    packages: z.array(packageName).optional(),
    tunnel: tunnel.optional(),
    public_ports: z.array(z.number().int().min(1).max(65535)).optional(),
  })
  .strict();

/** A mailbox: validated strictly, because it reaches a SQL query and a command line on the host. */
export const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const email = z.string().regex(EMAIL, 'expected an email address like ops@example.com');

const glitchtip = z
  .object({
    admin_email: email,
    open_registration: z.boolean().default(false),
    email_url: secretRef.optional(),
    from_email: email.optional(),
  })
  .strict();

/** A PostgreSQL memory setting in the units max_slot_wal_keep_size (GUC unit MB) shows. */
/** The cap when the inventory gives none (docs/apps.md "Point-in-time recovery"). */
export const DEFAULT_WAL_CAP = '1GB';
export const WAL_CAP_RE = /^[1-9]\d{0,6}(MB|GB|TB)$/;
const UNIT_BYTES: Record<string, number> = { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
/** Pure: `48MB`, `1GB` (as SHOW prints it too) in bytes; NaN for anything else (`-1`: no cap). */
export function walCapBytes(v: string): number {
  const m = /^(\d+)(kB|MB|GB|TB)$/.exec(v.trim());
  return m ? Number(m[1]) * UNIT_BYTES[m[2]!]! : Number.NaN;
}

const app = z
  .object({
    host: z.string(),
    postgres: z
      .number({ invalid_type_error: 'expected a PostgreSQL major version number like 18' })
      .int()
      .refine(
        (v) => (PG_MAJORS as readonly number[]).includes(v),
        'expected a supported PostgreSQL major: 14 to 18',
      ),
    backup_retention_days: z.number().int().min(1).max(3650).optional(),
    /** Days the control host keeps its copies of the app's dumps (docs/apps.md "Backups"). */
    backup_control_retention_days: z.number().int().min(1).max(3650).optional(),
    /** Stream the app's WAL to the control host for point-in-time recovery (docs/apps.md). */
    pitr: z.boolean().optional(),
    /** max_slot_wal_keep_size of the app's PostgreSQL: what a stopped receiver's slot may hold. */
    pitr_wal_cap: z
      .string()
      .refine(
        (v) => WAL_CAP_RE.test(v) && walCapBytes(v) >= 16 * 1024 ** 2,
        'expected a size in MB, GB or TB like 1GB or 256MB, at least 16MB (one WAL segment)',
      )
      .optional(),
  })
  .strict();

export const inventorySchema = z
  .object({
    defaults: z
      .object({
        ssh: ssh.optional(),
        timezone: timezone.optional(),
        packages: z.array(packageName).optional(),
      })
      .strict()
      .default({}),
    /** Cloudflare's API: remotely managed tunnels, their DNS records and Access (README). */
    cloudflare: cloudflare.optional(),
    tailscale: z.object({ auth_key: secretRef, ssh: z.boolean().default(true) }).strict(),
    firewall: z
      .object({
        incoming: z.enum(['deny', 'allow', 'reject']).default('deny'),
        outgoing: z.enum(['deny', 'allow', 'reject']).default('allow'),
        allow: z.array(firewallRule).default([]),
      })
      .strict(),
    docker: z
      .object({
        source: z.enum(['docker', 'distro']).default('docker'),
        log_max_size: z
          .string()
          .regex(/^\d+[kmg]$/, 'expected a size like 10m')
          .default('10m'),
        log_max_file: z.number().int().min(1).max(100).default(3),
      })
      .strict()
      .default({}),
    upstream: z
      .object({
        tailscale_apt: url.default('https://pkgs.tailscale.com/stable'),
        cloudflared_apt: url.default('https://pkg.cloudflare.com'),
        docker_apt: url.default('https://download.docker.com/linux'),
        registry_mirror: url.optional(),
        /** Cloudflare's API (the lab points it at its stand-in). */
        cloudflare_api: url.default('https://api.cloudflare.com/client/v4'),
      })
      .strict()
      .default({}),
    /** The control server's log store (docs/stacks.md). */
    observability: z
      .object({ retention_days: z.number().int().min(1).max(3650).default(31) })
      .strict()
      .default({}),
    /** GlitchTip on the control host (docs/stacks.md): its superuser, registration, outgoing mail. */
    glitchtip: glitchtip.optional(),
    /** The control host's off-site copy (docs/apps.md "Off-site"). */
    backups: backupsSchema,
    /** Dokploy on the control server (docs/stacks.md): its owner, created by infra before it is published. */
    dokploy: z
      .object({
        owner_email: z
          .string()
          .regex(
            /^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/,
            'expected an email address like ops@example.com',
          )
          .optional(),
        /** An API key made in Dokploy's UI, instead of the one infra creates (docs/stacks.md). */
        api_key: secretRef.optional(),
      })
      .strict()
      .default({}),
    /** The analytics layer: cross-app SQL (docs/analytics.md). */
    analytics: analyticsSchema.optional(),
    hosts: z.record(z.string().regex(HOST_NAME, 'host names are lowercase letters, digits and dashes'), host),
    apps: z
      .record(
        z
          .string()
          .regex(APP_NAME, 'app names are lowercase letters, digits and dashes, starting with a letter'),
        app,
      )
      .default({}),
  })
  .strict();

export type InventoryDoc = z.infer<typeof inventorySchema>;
export type HostDoc = z.infer<typeof host>;
export type AppDoc = z.infer<typeof app>;
export type FirewallRule = z.infer<typeof firewallRule>;
export type TunnelRoute = z.infer<typeof tunnelRoute>;
export type AccessPolicyDoc = z.infer<typeof accessPolicy>;
export type TunnelDoc = z.infer<typeof tunnel>;
export type GlitchtipDoc = z.infer<typeof glitchtip>;
