import type { Change } from '../engine/task.js';
import type { AccessPolicyDoc, TunnelRoute } from '../inventory/schema.js';
import { zoneOf } from '../inventory/tunnel-check.js';
import type { ApiCall, AppBody, PolicyBody } from './calls.js';
import {
  APP_NAME,
  type CfDnsRecord,
  type CfState,
  DNS_COMMENT,
  type IngressRule,
  isOurDnsComment,
  POLICY_NAME,
  tunnelTarget,
} from './state.js';

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

const CATCH_ALL: IngressRule = { service: 'http_status:404' };

/** The remote configuration: the routes in order, then the mandatory catch-all. */
export function desiredIngress(routes: readonly TunnelRoute[]): IngressRule[] {
  return [...routes.map((r) => ({ hostname: r.hostname, service: r.service })), CATCH_ALL];
}

const ruleKey = (r: IngressRule) => `${(r.hostname ?? '*').toLowerCase()}${r.path ? ` ${r.path}` : ''}`;
const show = (r: IngressRule) => `${r.hostname ?? '(catch-all)'}${r.path ? r.path : ''} → ${r.service}`;

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

const describeRecord = (r: CfDnsRecord) => `${r.type} ${r.content}${r.proxied ? ' (proxied)' : ''}`;

export function planDns(want: DesiredTunnel, hostname: string, tunnelId: string, state: CfState): PlanItem {
  const id = `cloudflare:dns:${hostname}`;
  const zone = zoneOf(hostname, want.zones)!;
  const zoneId = state.zones[zone];
  if (!zoneId)
    return {
      id,
      changes: [],
      calls: [],
      error: `zone ${zone} is not in the account (or the API token cannot read it: Zone › Zone: Read)`,
    };
  const target = tunnelTarget(tunnelId);
  const records = state.dns.filter(
    (r) => r.zoneId === zoneId && r.name.toLowerCase() === hostname.toLowerCase(),
  );
  const ours = records.filter((r) => r.type === 'CNAME' && isOurDnsComment(r.comment));
  const foreign = records.filter((r) => !ours.includes(r));
  const comment = DNS_COMMENT(want.name);
  if (foreign.length) {
    const f = foreign[0]!;
    // Made by hand and already right: in sync, and still not ours to change.
    if (!ours.length && foreign.length === 1 && f.type === 'CNAME' && f.content === target && f.proxied)
      return { id, changes: [], calls: [] };
    return {
      id,
      changes: [],
      calls: [],
      error: `${hostname} already has a DNS record infra did not create (${describeRecord(f)}, id ${f.id}): infra leaves it as it is; delete it or point it at ${target} (proxied) in the dashboard`,
    };
  }
  const mine = ours[0];
  if (!mine)
    return {
      id,
      changes: [
        {
          summary: `create DNS record ${hostname} CNAME ${target} (proxied)`,
          kind: 'dns-missing',
          expected: target,
        },
      ],
      calls: [{ kind: 'dns-create', zoneId, name: hostname, content: target, comment }],
    };
  if (mine.content === target && mine.proxied) return { id, changes: [], calls: [] };
  return {
    id,
    changes: [
      {
        summary: `DNS record ${hostname} points at ${describeRecord(mine)}, want ${target} (proxied)`,
        kind: 'dns-differs',
        expected: target,
        actual: mine.content,
      },
    ],
    calls: [{ kind: 'dns-update', zoneId, id: mine.id, name: hostname, content: target, comment }],
  };
}

export function policyBody(name: string, p: AccessPolicyDoc): PolicyBody {
  return {
    name: POLICY_NAME(name),
    decision: 'allow',
    include: [
      ...p.email_domains.map((domain) => ({ email_domain: { domain } })),
      ...p.emails.map((email) => ({ email: { email } })),
    ],
    session_duration: p.session_duration,
  };
}

export function appBody(hostname: string, policy: string, p: AccessPolicyDoc): AppBody {
  return {
    name: APP_NAME(hostname),
    domain: hostname,
    type: 'self_hosted',
    session_duration: p.session_duration,
    allowed_idps: p.identity_provider ? [p.identity_provider] : [],
    policyNames: [POLICY_NAME(policy)],
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The policies the routes name, then one application per guarded hostname. */
export function planAccess(want: DesiredTunnel, state: CfState): PlanItem[] {
  const items: PlanItem[] = [];
  const used = [...new Set(want.routes.flatMap((r) => (r.access ? [r.access] : [])))];
  for (const name of used) {
    const body = policyBody(name, want.access[name]!);
    const have = state.policies.find((p) => p.name === body.name);
    const id = `cloudflare:access-policy:${name}`;
    if (!have)
      items.push({
        id,
        changes: [{ summary: `create Access policy ${body.name}`, kind: 'access-policy-missing' }],
        calls: [{ kind: 'policy-create', name: body.name, body }],
      });
    else if (
      have.decision !== 'allow' ||
      !same(have.include, body.include) ||
      have.sessionDuration !== body.session_duration
    )
      items.push({
        id,
        changes: [
          {
            summary: `Access policy ${body.name} differs from the inventory`,
            kind: 'access-policy-differs',
            expected: body.include,
            actual: have.include,
          },
        ],
        calls: [{ kind: 'policy-update', id: have.id, name: body.name, body }],
      });
    else items.push({ id, changes: [], calls: [] });
  }
  for (const r of want.routes) {
    const id = `cloudflare:access:${r.hostname}`;
    const apps = state.apps.filter((a) => a.domain.toLowerCase() === r.hostname.toLowerCase());
    const mine = apps.find((a) => a.name === APP_NAME(r.hostname));
    const foreign = apps.find((a) => a !== mine);
    if (!r.access) {
      // Guarded before, open now: only the application infra made goes.
      if (mine)
        items.push({
          id,
          changes: [
            {
              summary: `delete Access application ${mine.name} (the route names no access policy)`,
              kind: 'access-app-extra',
            },
          ],
          calls: [{ kind: 'app-delete', id: mine.id, domain: r.hostname }],
        });
      continue;
    }
    if (foreign) {
      items.push({
        id,
        changes: [],
        calls: [],
        error: `${r.hostname} already has an Access application infra did not create (${foreign.name}, id ${foreign.id}): infra leaves it as it is; remove it or drop access from the route`,
      });
      continue;
    }
    const body = appBody(r.hostname, r.access, want.access[r.access]!);
    const policy = state.policies.find((p) => p.name === body.policyNames[0]);
    if (!mine) {
      items.push({
        id,
        changes: [
          {
            summary: `create Access application ${body.name} (policy ${body.policyNames[0]})`,
            kind: 'access-app-missing',
          },
        ],
        calls: [{ kind: 'app-create', domain: r.hostname, body }],
      });
      continue;
    }
    const differs: string[] = [];
    if (mine.type !== 'self_hosted') differs.push(`type ${mine.type}`);
    if (!policy || !same(mine.policyIds, [policy.id])) differs.push('its policies');
    if (!same(mine.allowedIdps, body.allowed_idps)) differs.push('its identity providers');
    if (mine.sessionDuration !== body.session_duration) differs.push(`session ${mine.sessionDuration}`);
    items.push({
      id,
      changes: differs.length
        ? [
            {
              summary: `Access application ${body.name} differs: ${differs.join(', ')}`,
              kind: 'access-app-differs',
            },
          ]
        : [],
      calls: differs.length ? [{ kind: 'app-update', id: mine.id, domain: r.hostname, body }] : [],
    });
  }
  return items;
}
