import type { Secret } from '../secrets.js';
import type { OffsiteSettings } from './offsite.js';
import type { AccessPolicyDoc, FirewallRule, InventoryDoc, TunnelRoute } from './schema.js';

export type Role = 'control' | 'apps';

export interface SshSettings {
  user: string;
  port: number;
  /** Private key file; undefined means the ssh-agent (SSH_AUTH_SOCK). */
  key?: string;
}

export interface Host {
  name: string;
  role: Role;
  /** The public address: the only path before the host is on the tailnet. */
  address: string;
  ssh: SshSettings;
  timezone: string;
  packages: string[];
  tunnel?: Tunnel;
  publicPorts: number[];
}

/**
 * How cloudflared learns its routes (README, "Cloudflare"): `api`, a remotely managed tunnel infra
 * creates by name and configures through Cloudflare's API (token fetched unless `tokenRef` is
 * given); `token`, a remotely managed tunnel configured elsewhere (the dashboard): cloudflared
 * ignores local ingress; `local`, a locally managed tunnel: credentials file + local ingress.
 */
export interface Tunnel {
  kind: 'api' | 'token' | 'local';
  /** The tunnel's name in the account (kind api). */
  name?: string;
  token: Secret | undefined;
  tokenRef?: string;
  /** Locally managed: the tunnel's UUID and its credentials file's JSON (a secret). */
  id?: string;
  credentials?: Secret;
  credentialsRef?: string;
  routes: TunnelRoute[];
}

export interface CloudflareSettings {
  apiToken: Secret | undefined;
  apiTokenRef: string;
  accountId: string;
  zones: string[];
  access: Record<string, AccessPolicyDoc>;
}

export interface GlitchtipSettings {
  /** The superuser infra creates before GlitchTip's route is published. */
  adminEmail: string;
  /** ENABLE_USER_REGISTRATION: off unless the inventory opens it. */
  openRegistration: boolean;
  /** Outgoing mail (EMAIL_URL, e.g. smtp+tls://user:pass@host:587); undefined: no mail is sent. */
  emailUrl: Secret | undefined;
  emailUrlRef?: string;
  fromEmail?: string;
}

export interface App {
  name: string;
  host: string;
  postgres: number;
  backupRetentionDays: number;
  /** Days the control host keeps its copies (default 60, longer than the apps host's 14). */
  controlRetentionDays: number;
  /** WAL streamed to the control host for point-in-time recovery (`pitr: true`; default off). */
  pitr?: boolean;
  /** max_slot_wal_keep_size for the WAL slot (`pitr_wal_cap`, default `1GB`). */
  pitrWalCap?: string;
}

/** The analytics layer (inventory `analytics`, docs/analytics.md): cross-app SQL over the apps' data. */
export interface AnalyticsSettings {
  mode: 'direct' | 'nightly' | 'replication';
  /** The host of the analytics PostgreSQL (default: the control host). */
  host: string;
  /** The apps included (default: every app), in the inventory's order. */
  apps: string[];
  /** The analytics instance's PostgreSQL major (default 18; >= every included app's). */
  postgres: number;
  /** nightly: the sync timer's time of day, HH:MM (default 05:30). */
  syncTime: string;
  /** replication: lag past this is a finding (default 60 s). */
  lagThresholdSec: number;
  metabase: { adminEmail?: string };
}

export interface Inventory {
  file: string;
  dir: string;
  /** Where infra keeps what it learned (tailnet addresses, lab state): <dir>/.infra */
  stateDir: string;
  knownHostsFile: string;
  hosts: Host[];
  apps: App[];
  tailscale: { authKey: Secret | undefined; authKeyRef: string; ssh: boolean };
  firewall: { incoming: string; outgoing: string; allow: FirewallRule[] };
  docker: InventoryDoc['docker'];
  upstream: InventoryDoc['upstream'];
  /** Loki on the control host keeps logs this many days (observability.retention_days). */
  observability: { retentionDays: number };
  /** GlitchTip on the control host (inventory key `glitchtip`); undefined without a control host. */
  glitchtip?: GlitchtipSettings;
  /** Cloudflare's API for remotely managed tunnels, their DNS and Access (key `cloudflare`). */
  cloudflare?: CloudflareSettings;
  /** Dokploy's owner, created before Dokploy is published (dokploy.owner_email). */
  dokploy: { ownerEmail?: string; apiKey?: Secret; apiKeyRef?: string };
  /** The control host's restic copy off-site (`backups.offsite`, docs/apps.md "Off-site"). */
  offsite?: OffsiteSettings;
  /** The analytics layer (key `analytics`); undefined when the inventory has none. */
  analytics?: AnalyticsSettings;
  /** Every secret value in play, for the redactor. */
  secrets: Secret[];
  /** True when connection details, upstreams and secrets come from the local lab. */
  lab: boolean;
}
