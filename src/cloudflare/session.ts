import type { Mode, TaskResult } from '../engine/events.js';
import { InfraError } from '../errors.js';
import type { Host, Inventory } from '../inventory/types.js';
import { ROUTE_GATES } from '../roles/control.js';
import { Secret } from '../secrets.js';
import { TOKEN_TASK } from '../tasks/cloudflared.js';
import { CloudflareApi } from './client.js';
import { type DesiredTunnel, type PlanItem, planTunnel } from './plan.js';
import type { CfState } from './state.js';

const CONNECTOR_WAIT = { tries: 15, ms: 2000 };

export function desiredFor(inv: Inventory, host: Host): DesiredTunnel | undefined {
  const t = host.tunnel;
  if (t?.kind !== 'api' || !t.name || !inv.cloudflare) return undefined;
  return { name: t.name, routes: t.routes, zones: inv.cloudflare.zones, access: inv.cloudflare.access };
}

/**
 * The Cloudflare side of one run, shared by its hosts: one read of the account (started while
 * the SSH handshakes are under way, and awaited by every host), the tunnel and token made ready
 * before a host's tasks are planned, and after the host converged, its routes, DNS records and
 * Access pushed — only once the host's route gates (the web UIs' administrators) hold.
 */
export class CloudflareSession {
  private api?: CloudflareApi;
  private reading?: Promise<CfState>;
  constructor(
    private readonly inv: Inventory,
    /** Learns secrets the run met (fetched tunnel tokens), so no line ever shows them. */
    private readonly redact: (s: Secret) => void,
  ) {}

  private client(): CloudflareApi {
    const cf = this.inv.cloudflare!;
    if (!cf.apiToken)
      throw new InfraError(
        `secret ${cf.apiTokenRef.slice(4)} (cloudflare.api_token) is not set: the tunnel's Cloudflare side cannot be read`,
      );
    this.api ??= new CloudflareApi({
      baseURL: this.inv.upstream.cloudflare_api,
      apiToken: cf.apiToken.reveal(),
      accountId: cf.accountId,
      zones: cf.zones,
    });
    return this.api;
  }

  get calls() {
    return { reads: this.api?.reads ?? 0, writes: this.api?.writes ?? 0 };
  }

  private fresh(): Promise<CfState> {
    const names = this.inv.hosts.flatMap((h) =>
      h.tunnel?.kind === 'api' && h.tunnel.name ? [h.tunnel.name] : [],
    );
    const access = this.inv.hosts.some(
      (h) => h.tunnel?.kind === 'api' && h.tunnel.routes.some((r) => r.access),
    );
    return this.client().read(names, access);
  }

  /** The account as first read in this run (one set of calls, whatever the number of hosts). */
  state(): Promise<CfState> {
    this.reading ??= this.fresh();
    return this.reading;
  }

  /**
   * Before the host's tasks are planned: the tunnel exists (apply creates it), and unless the
   * inventory gives a token ref, the host's token is the one the API hands out for it.
   */
  async prepare(host: Host, mode: Mode): Promise<void> {
    const want = desiredFor(this.inv, host);
    if (!want) return;
    const state = await this.state();
    let tunnel = state.tunnels.find((t) => t.name === want.name);
    if (!tunnel && mode === 'apply') {
      tunnel = await this.client().createTunnel(want.name);
      state.tunnels.push(tunnel);
      state.configs[tunnel.id] = { version: 0, ingress: [] };
    }
    if (!tunnel || host.tunnel!.tokenRef || tunnel.configSrc !== 'cloudflare') return;
    const token = new Secret(`cloudflare:tunnel ${want.name}`, await this.client().token(tunnel));
    this.redact(token);
    host.tunnel!.token = token;
  }

  /** After the host converged (or was probed): the tunnel's Cloudflare side, as results. */
  async finish(host: Host, mode: Mode, hostResults: readonly TaskResult[]): Promise<TaskResult[]> {
    const want = desiredFor(this.inv, host);
    if (!want) return [];
    const items = planTunnel(want, await this.state());
    if (mode !== 'apply') return items.map(asResult);
    const gate = [TOKEN_TASK, ...ROUTE_GATES]
      .map((id) => hostResults.find((r) => r.task === id))
      .find((r) => r && r.status !== 'ok' && r.status !== 'changed');
    if (gate)
      return items.map((i) =>
        i.calls.length || i.error
          ? {
              task: i.id,
              status: 'skipped',
              changes: i.changes,
              cause: gate.task,
              error: `not run: ${gate.task} did not converge`,
            }
          : asResult(i),
      );
    const calls = items.filter((i) => !i.error).flatMap((i) => i.calls);
    const state = await this.state();
    if (calls.length) await this.client().apply(calls, state.policies);
    // Verify with a new read; a connector that just (re)started takes a few seconds to register.
    const restarted = hostResults.some((r) => r.task.startsWith('cloudflared') && r.status === 'changed');
    let after = planTunnel(want, await this.fresh());
    for (let i = 0; restarted && i < CONNECTOR_WAIT.tries && noConnector(after); i++) {
      await new Promise((r) => setTimeout(r, CONNECTOR_WAIT.ms));
      after = planTunnel(want, await this.fresh());
    }
    return items.map((before) => {
      const now = after.find((a) => a.id === before.id);
      if (before.error) return asResult(before);
      if (now?.changes.length)
        return {
          task: before.id,
          status: 'failed',
          changes: before.changes,
          error: before.calls.length
            ? `not idempotent: still differs after apply: ${now.changes.map((c) => c.summary).join('; ')}`
            : now.changes.map((c) => c.summary).join('; '),
        };
      return { task: before.id, status: before.calls.length ? 'changed' : 'ok', changes: before.changes };
    });
  }
}

const noConnector = (items: PlanItem[]) =>
  items.some((i) => i.changes.some((c) => c.kind === 'tunnel-no-connector'));

function asResult(i: PlanItem): TaskResult {
  if (i.error) return { task: i.id, status: 'failed', changes: i.changes, error: i.error };
  return { task: i.id, status: i.changes.length ? 'drift' : 'ok', changes: i.changes };
}
