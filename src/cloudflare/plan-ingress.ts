import type { Change } from '../engine/task.js';
import type { TunnelRoute } from '../inventory/schema.js';
import type { DesiredTunnel, PlanItem } from './plan.js';
import type { IngressRule } from './state.js';

/** The tunnel's routes (its remote configuration's ingress rules), planned for planTunnel (plan.ts). */

const CATCH_ALL: IngressRule = { service: 'http_status:404' };

/** The remote configuration: the routes in order, then the mandatory catch-all. */
export function desiredIngress(routes: readonly TunnelRoute[]): IngressRule[] {
  return [...routes.map((r) => ({ hostname: r.hostname, service: r.service })), CATCH_ALL];
}

const ruleKey = (r: IngressRule) => `${(r.hostname ?? '*').toLowerCase()}${r.path ? ` ${r.path}` : ''}`;
const show = (r: IngressRule) => `${r.hostname ?? '(catch-all)'}${r.path ? r.path : ''} → ${r.service}`;

/** Route missing, extra, or pointing at another service: one change each, one PUT for all. */
export function planIngress(
  want: DesiredTunnel,
  tunnelId: string,
  have: IngressRule[] | undefined,
): PlanItem {
  const wanted = desiredIngress(want.routes);
  const current = have ?? [];
  const changes: Change[] = [];
  const byKey = new Map(current.map((r) => [ruleKey(r), r]));
  for (const w of wanted) {
    const h = byKey.get(ruleKey(w));
    if (!h)
      changes.push({ summary: `add route ${show(w)}`, kind: 'ingress-route-missing', expected: w.service });
    else if (h.service !== w.service)
      changes.push({
        summary: `route ${w.hostname ?? '(catch-all)'} points at ${h.service}, want ${w.service}`,
        kind: 'ingress-route-differs',
        expected: w.service,
        actual: h.service,
      });
  }
  const wantedKeys = new Set(wanted.map(ruleKey));
  for (const h of current)
    if (!wantedKeys.has(ruleKey(h)))
      changes.push({
        summary: `remove route ${show(h)} (not in the inventory)`,
        kind: 'ingress-route-extra',
        actual: h.service,
      });
  // Same rules in another order match differently (first match wins): that is drift too.
  if (!changes.length && current.map(ruleKey).join('\n') !== wanted.map(ruleKey).join('\n'))
    changes.push({ summary: 'reorder the ingress rules as the inventory lists them', kind: 'ingress-order' });
  return {
    id: 'cloudflare:ingress',
    changes,
    calls: changes.length ? [{ kind: 'config-put', tunnel: want.name, tunnelId, ingress: wanted }] : [],
  };
}
