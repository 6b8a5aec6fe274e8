import { z } from 'zod';

/** Names reach shell commands, file paths and compose project names: one strict pattern each. */
export const HOST_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const APP_NAME = /^[a-z][a-z0-9-]{0,30}$/;
export const SECRET_REF = /^env:([A-Z_][A-Z0-9_]*)$/;
export const ROLES = ['control', 'apps'] as const;
export const PG_MAJORS = [14, 15, 16, 17, 18] as const;

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
  })
  .strict();

const host = z
  .object({
    role: z.enum(ROLES),
    address: hostname,
    ssh: ssh.optional(),
    timezone: timezone.optional(),
    packages: z.array(packageName).optional(),
    tunnel: z
      .object({ token: secretRef, routes: z.array(tunnelRoute).default([]) })
      .strict()
      .optional(),
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
export type GlitchtipDoc = z.infer<typeof glitchtip>;
