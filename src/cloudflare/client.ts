import type { ApiCall } from './calls.js';
import { describeCall } from './calls.js';
import {
  type CallContext,
  type CfErrorItem,
  CloudflareError,
  DEFAULT_RETRY,
  describeApiError,
  type ResourceKind,
  type RetryPolicy,
  retryDelay,
} from './errors.js';
import type { CfApp, CfConfig, CfDnsRecord, CfPolicy, CfState, CfTunnel, IngressRule } from './state.js';

/** The account, the zones and the API token of the inventory's `cloudflare` section. */
export interface ClientOptions {
  baseURL: string;
  apiToken: string;
  accountId: string;
  zones: string[];
  retry?: RetryPolicy;
  /** Injected by tests: where waits go (default: real time). */
  sleep?: (ms: number) => Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: the SDK's own types are per-endpoint; we pick fields.
type Any = any;
const PER_PAGE = 1000;

/**
 * The official SDK (cloudflare-typescript 7.3.0), loaded on first use so `infra --help` never
 * parses it. Its own retries are off: ours (errors.ts) are bounded and end in one clear line.
 * `apiKey`/`apiEmail` null: an operator's CLOUDFLARE_API_KEY must not ride along.
 */
export class CloudflareApi {
  reads = 0;
  writes = 0;
  private sdk?: Promise<Any>;
  constructor(private readonly o: ClientOptions) {}

  private client(): Promise<Any> {
    this.sdk ??= import('cloudflare').then(
      ({ default: Cloudflare }) =>
        new Cloudflare({
          apiToken: this.o.apiToken,
          apiKey: null,
          apiEmail: null,
          userServiceKey: null,
          baseURL: this.o.baseURL,
          maxRetries: 0,
          timeout: 20_000,
        }),
    );
    return this.sdk;
  }

  /** One call with bounded retries; a final failure is a CloudflareError naming account and permission. */
  private async call<T>(
    kind: ResourceKind,
    what: string,
    write: boolean,
    fn: (c: Any) => Promise<T>,
  ): Promise<T> {
    const c = await this.client();
    const ctx: CallContext = { account: this.o.accountId, kind, what };
    const sleep = this.o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    for (let n = 1; ; n++) {
      if (write) this.writes++;
      else this.reads++;
      try {
        return await fn(c);
      } catch (e) {
        const err = e as { status?: number; errors?: CfErrorItem[]; headers?: Headers; message?: string };
        const status = typeof err.status === 'number' ? err.status : undefined;
        const wait = retryDelay(
          n + 1,
          status,
          err.headers?.get?.('retry-after'),
          this.o.retry ?? DEFAULT_RETRY,
        );
        if (wait !== undefined) {
          await sleep(wait);
          continue;
        }
        const errors = err.errors?.length
          ? err.errors
          : status
            ? []
            : [{ message: err.message ?? String(e) }];
        const tries = n > 1 ? ` after ${n} tries` : '';
        throw new CloudflareError(`${describeApiError(status, errors, ctx)}${tries}`, status);
      }
    }
  }

  /** Every page of a V4-paginated list: one call unless the account has more than PER_PAGE. */
  private async all<T>(kind: ResourceKind, what: string, list: (c: Any) => Any): Promise<T[]> {
    let page: Any = await this.call(kind, what, false, (c) => list(c));
    const items: T[] = [...(page.result ?? [])];
    while (page.result_info?.total_pages && (page.result_info.page ?? 1) < page.result_info.total_pages) {
      page = await this.call(kind, what, false, () => page.getNextPage());
      items.push(...(page.result ?? []));
    }
    return items;
  }

  /**
   * Everything one check compares, in parallel: zones, tunnels, Access apps and policies (one
   * call each per account), then per zone its records and per named tunnel its configuration.
   */
  async read(tunnelNames: readonly string[], withAccess: boolean): Promise<CfState> {
    const account_id = this.o.accountId;
    const [zones, tunnels, apps, policies] = await Promise.all([
      this.all<Any>('zones', 'list zones', (c) =>
        c.zones.list({ account: { id: account_id }, per_page: 50 }),
      ),
      this.all<Any>('tunnels', 'list tunnels', (c) =>
        c.zeroTrust.tunnels.cloudflared.list({ account_id, is_deleted: false, per_page: PER_PAGE }),
      ),
      withAccess
        ? this.all<Any>('access', 'list Access applications', (c) =>
            c.zeroTrust.access.applications.list({ account_id }),
          )
        : [],
      withAccess
        ? this.all<Any>('access', 'list Access policies', (c) =>
            c.zeroTrust.access.policies.list({ account_id }),
          )
        : [],
    ]);
    const zoneIds: Record<string, string> = {};
    for (const z of zones) if (this.o.zones.includes(z.name)) zoneIds[z.name] = z.id;
    const ours = tunnels.filter((t: Any) => tunnelNames.includes(t.name));
    const [records, configs] = await Promise.all([
      Promise.all(
        Object.entries(zoneIds).map(([name, zone_id]) =>
          this.all<Any>('dns', `list DNS records of ${name}`, (c) =>
            c.dns.records.list({ zone_id, per_page: PER_PAGE }),
          ),
        ),
      ),
      Promise.all(
        ours.map((t: Any) =>
          this.call('tunnels', `read the configuration of tunnel ${t.name}`, false, (c) =>
            c.zeroTrust.tunnels.cloudflared.configurations.get(t.id, { account_id }),
          ),
        ),
      ),
    ]);
    return {
      zones: zoneIds,
      tunnels: tunnels.map(toTunnel),
      configs: Object.fromEntries(ours.map((t: Any, i: number) => [t.id, toConfig(configs[i])])),
      dns: Object.values(zoneIds).flatMap((zoneId, i) => records[i]!.map((r: Any) => toRecord(zoneId, r))),
      apps: apps.map(toApp),
      policies: policies.map(toPolicy),
    };
  }

  /** GET …/cfd_tunnel/{id}/token: the token cloudflared runs with (a secret: callers redact it). */
  token(tunnel: CfTunnel): Promise<string> {
    return this.call('tunnels', `read the token of tunnel ${tunnel.name}`, false, (c) =>
      c.zeroTrust.tunnels.cloudflared.token.get(tunnel.id, { account_id: this.o.accountId }),
    );
  }

  /** POST …/cfd_tunnel with config_src cloudflare: a remotely managed tunnel. */
  async createTunnel(name: string): Promise<CfTunnel> {
    const t = await this.call('tunnels', `create tunnel ${name}`, true, (c) =>
      c.zeroTrust.tunnels.cloudflared.create({
        account_id: this.o.accountId,
        name,
        config_src: 'cloudflare',
      }),
    );
    return toTunnel(t);
  }

  /** The plan's writes, in order; policies first so applications can name their IDs. */
  async apply(calls: readonly ApiCall[], policies: CfPolicy[]): Promise<void> {
    const account_id = this.o.accountId;
    const policyIds = new Map(policies.map((p) => [p.name, p.id]));
    const kindOf = (c: ApiCall): ResourceKind =>
      c.kind.startsWith('dns')
        ? 'dns'
        : c.kind.startsWith('tunnel') || c.kind === 'config-put'
          ? 'tunnels'
          : 'access';
    const order = (c: ApiCall) => (c.kind.startsWith('policy') ? 0 : 1);
    for (const call of [...calls].sort((a, b) => order(a) - order(b))) {
      await this.call(kindOf(call), describeCall(call), true, async (c) => {
        const tunnels = c.zeroTrust.tunnels.cloudflared;
        switch (call.kind) {
          case 'tunnel-create':
            return tunnels.create({ account_id, name: call.name, config_src: 'cloudflare' });
          case 'config-put':
            return tunnels.configurations.update(call.tunnelId, {
              account_id,
              config: { ingress: call.ingress },
            });
          case 'dns-create':
          case 'dns-update': {
            const body = {
              zone_id: call.zoneId,
              type: 'CNAME',
              name: call.name,
              content: call.content,
              proxied: true,
              ttl: 1,
              comment: call.comment,
            };
            return call.kind === 'dns-create'
              ? c.dns.records.create(body)
              : c.dns.records.update(call.id, body);
          }
          case 'policy-create': {
            const p = await c.zeroTrust.access.policies.create({ account_id, ...call.body });
            policyIds.set(p.name, p.id);
            return p;
          }
          case 'policy-update':
            return c.zeroTrust.access.policies.update(call.id, { account_id, ...call.body });
          case 'app-create':
          case 'app-update': {
            const { policyNames, ...rest } = call.body;
            const body = {
              account_id,
              ...rest,
              policies: policyNames.map((n, i) => ({ id: policyIds.get(n)!, precedence: i + 1 })),
            };
            return call.kind === 'app-create'
              ? c.zeroTrust.access.applications.create(body)
              : c.zeroTrust.access.applications.update(call.id, body);
          }
          case 'app-delete':
            return c.zeroTrust.access.applications.delete(call.id, { account_id });
        }
      });
    }
  }
}

function toTunnel(t: Any): CfTunnel {
  return {
    id: t.id,
    name: t.name,
    configSrc: t.config_src,
    status: t.status,
    connections: Array.isArray(t.connections) ? t.connections.length : 0,
  };
}

function toConfig(r: Any): CfConfig {
  const ingress: IngressRule[] = (r?.config?.ingress ?? []).map((i: Any) => ({
    ...(i.hostname ? { hostname: i.hostname } : {}),
    ...(i.path ? { path: i.path } : {}),
    service: i.service,
  }));
  return { version: r?.version ?? 0, ingress };
}

function toRecord(zoneId: string, r: Any): CfDnsRecord {
  return {
    id: r.id,
    zoneId,
    name: r.name,
    type: r.type,
    content: r.content,
    proxied: !!r.proxied,
    comment: r.comment,
  };
}

function toApp(a: Any): CfApp {
  return {
    id: a.id,
    name: a.name,
    domain: a.domain ?? '',
    type: a.type,
    policyIds: (a.policies ?? []).map((p: Any) => p.id),
    allowedIdps: a.allowed_idps ?? [],
    sessionDuration: a.session_duration,
  };
}

function toPolicy(p: Any): CfPolicy {
  return {
    id: p.id,
    name: p.name,
    decision: p.decision,
    include: p.include ?? [],
    sessionDuration: p.session_duration,
  };
}
