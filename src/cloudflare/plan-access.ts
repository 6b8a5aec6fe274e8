import type { AccessPolicyDoc } from '../inventory/schema.js';
import type { AppBody, PolicyBody } from './calls.js';
import type { DesiredTunnel, PlanItem } from './plan.js';
import { APP_NAME, type CfState, POLICY_NAME } from './state.js';

/** The Access policies and applications that guard route hostnames, planned for planTunnel (plan.ts). */

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
