import type { Change } from '../engine/task.js';
import type { AccessPolicyDoc, TunnelRoute } from '../inventory/schema.js';
import type { ApiCall } from './calls.js';
import { planAccess } from './plan-access.js';
import { planDns } from './plan-dns.js';
import { planIngress } from './plan-ingress.js';
import type { CfState } from './state.js';

/** One host's tunnel as the inventory wants it at Cloudflare. */
export interface DesiredTunnel {
  name: string;
  routes: TunnelRoute[];
  zones: string[];
  access: Record<string, AccessPolicyDoc>;
}

/**
 * One resource of the plan: reported as one result (`cloudflare:dns:glitchtip.sgl.as`), its
 * changes the drift, its calls what apply makes; `error` a conflict infra must not resolve.
 */
export interface PlanItem {
  id: string;
  changes: Change[];
  calls: ApiCall[];
  error?: string;
}

/**
 * Pure: inventory + account state → what differs and the calls that fix it. Nothing is planned
 * for what infra does not own: the tunnel is the one the inventory names, records and apps
 * carry infra's mark; anything else on a route's hostname is a conflict, reported, left alone.
 */
export function planTunnel(want: DesiredTunnel, state: CfState): PlanItem[] {
  const tunnel = state.tunnels.find((t) => t.name === want.name);
  const items: PlanItem[] = [];
  if (!tunnel)
    items.push({
      id: 'cloudflare:tunnel',
      changes: [{ summary: `create tunnel ${want.name} (remotely managed)`, kind: 'tunnel-missing' }],
      calls: [{ kind: 'tunnel-create', name: want.name }],
    });
  else if (tunnel.configSrc && tunnel.configSrc !== 'cloudflare')
    items.push({
      id: 'cloudflare:tunnel',
      changes: [],
      calls: [],
      error: `tunnel ${want.name} (${tunnel.id}) is locally managed (config_src ${tunnel.configSrc}): its routes cannot be pushed; use tunnel.credentials + id for it, or name a new tunnel`,
    });
  else
    items.push({
      id: 'cloudflare:tunnel',
      changes:
        tunnel.connections > 0
          ? []
          : [
              {
                summary: `tunnel ${want.name} has no healthy connector (status ${tunnel.status ?? 'unknown'}): is cloudflared running on the host?`,
                kind: 'tunnel-no-connector',
                expected: 'healthy',
                actual: tunnel.status ?? 'unknown',
              },
            ],
      calls: [],
    });
  if (items[0]!.error) return items;
  const id = tunnel?.id ?? '<new tunnel>';
  items.push(planIngress(want, id, tunnel ? state.configs[tunnel.id]?.ingress : undefined));
  for (const r of want.routes) items.push(planDns(want, r.hostname, id, state));
  items.push(...planAccess(want, state));
  return items;
}
