/**
 * What infra reads of one Cloudflare account, reduced to what it compares. Field names follow the
 * API (cloudflare-typescript 7.3.0: resources/zero-trust/tunnels/cloudflared, dns/records,
 * zero-trust/access/applications, zero-trust/access/policies, zones).
 */

/** An ingress rule of a tunnel configuration (`config.ingress[]`). */
export interface IngressRule {
  hostname?: string;
  path?: string;
  service: string;
}

export interface CfTunnel {
  id: string;
  name: string;
  /** `cloudflare`: remotely managed (the configuration lives at the edge); `local`: config.yml. */
  configSrc?: string;
  /** `healthy`, `degraded`, `inactive` (never connected), `down`. */
  status?: string;
  /** Connections to the edge, summed over its connectors. */
  connections: number;
}

export interface CfConfig {
  version: number;
  ingress: IngressRule[];
}

export interface CfDnsRecord {
  id: string;
  zoneId: string;
  name: string;
  type: string;
  content: string;
  proxied: boolean;
  comment?: string | null;
}

/** A reusable Access policy: `include` rules are ORed (email_domain, email). */
export interface CfPolicy {
  id: string;
  name: string;
  decision: string;
  include: unknown[];
  sessionDuration?: string;
}

export interface CfApp {
  id: string;
  name: string;
  domain: string;
  type: string;
  policyIds: string[];
  allowedIdps: string[];
  sessionDuration?: string;
}

export interface CfState {
  /** Zone name → zone ID, for the zones the inventory lists. */
  zones: Record<string, string>;
  tunnels: CfTunnel[];
  /** Tunnel ID → its remote configuration (only the tunnels the inventory names). */
  configs: Record<string, CfConfig>;
  /** Every record of the listed zones (records of a name are compared, never only CNAMEs). */
  dns: CfDnsRecord[];
  apps: CfApp[];
  policies: CfPolicy[];
}

/** What infra writes: the marks by which it knows its own records, apps and policies again. */
export const DNS_COMMENT = (tunnel: string) => `managed by infra (tunnel ${tunnel})`;
export const isOurDnsComment = (c: string | null | undefined) => !!c?.startsWith('managed by infra');
export const APP_NAME = (hostname: string) => `infra: ${hostname}`;
export const POLICY_NAME = (name: string) => `infra: ${name}`;
/** Where a tunnel's proxied CNAMEs point (developers.cloudflare.com, "DNS records" for tunnels). */
export const tunnelTarget = (id: string) => `${id}.cfargotunnel.com`;
