import { describe, expect, it } from 'vitest';
import { describeApiError, retryDelay } from '../../../src/cloudflare/errors.js';
import { type DesiredTunnel, planTunnel } from '../../../src/cloudflare/plan.js';
import { desiredIngress } from '../../../src/cloudflare/plan-ingress.js';
import { APP_NAME, type CfState, DNS_COMMENT, POLICY_NAME } from '../../../src/cloudflare/state.js';

const TID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const TARGET = `${TID}.cfargotunnel.com`;
const ZONE = 'z'.repeat(32);
const want: DesiredTunnel = {
  name: 'toucan',
  zones: ['sgl.as'],
  routes: [
    { hostname: 'glitchtip.sgl.as', service: 'http://localhost:8000' },
    { hostname: 'grafana.sgl.as', service: 'http://localhost:3001', access: 'staff' },
  ],
  access: { staff: { email_domains: ['sgl.as'], emails: [], session_duration: '24h' } },
};

/** The account exactly as infra leaves it: every plan item in sync, no call. */
function synced(): CfState {
  return {
    zones: { 'sgl.as': ZONE },
    tunnels: [{ id: TID, name: 'toucan', configSrc: 'cloudflare', status: 'healthy', connections: 4 }],
    configs: { [TID]: { version: 3, ingress: desiredIngress(want.routes) } },
    dns: ['glitchtip.sgl.as', 'grafana.sgl.as'].map((name, i) => ({
      id: `r${i}`,
      zoneId: ZONE,
      name,
      type: 'CNAME',
      content: TARGET,
      proxied: true,
      comment: DNS_COMMENT('toucan'),
    })),
    policies: [
      {
        id: 'p1',
        name: POLICY_NAME('staff'),
        decision: 'allow',
        include: [{ email_domain: { domain: 'sgl.as' } }],
        sessionDuration: '24h',
      },
    ],
    apps: [
      {
        id: 'a1',
        name: APP_NAME('grafana.sgl.as'),
        domain: 'grafana.sgl.as',
        type: 'self_hosted',
        policyIds: ['p1'],
        allowedIdps: [],
        sessionDuration: '24h',
      },
    ],
  };
}

const summary = (s: CfState) =>
  planTunnel(want, s)
    .filter((i) => i.changes.length || i.calls.length || i.error)
    .map((i) => ({
      id: i.id,
      kinds: i.changes.map((c) => c.kind),
      calls: i.calls.map((c) => c.kind),
      error: i.error,
    }));

describe('planTunnel: inventory routes + API state → API calls', () => {
  it('in sync: no change, no call', () => {
    expect(summary(synced())).toEqual([]);
  });

  const cases: [string, (s: CfState) => void, ReturnType<typeof summary>][] = [
    [
      'a fresh account: tunnel, configuration, records, policy and app are created',
      (s) => {
        s.tunnels = [];
        s.configs = {};
        s.dns = [];
        s.apps = [];
        s.policies = [];
      },
      [
        { id: 'cloudflare:tunnel', kinds: ['tunnel-missing'], calls: ['tunnel-create'], error: undefined },
        {
          id: 'cloudflare:ingress',
          kinds: ['ingress-route-missing', 'ingress-route-missing', 'ingress-route-missing'],
          calls: ['config-put'],
          error: undefined,
        },
        {
          id: 'cloudflare:dns:glitchtip.sgl.as',
          kinds: ['dns-missing'],
          calls: ['dns-create'],
          error: undefined,
        },
        {
          id: 'cloudflare:dns:grafana.sgl.as',
          kinds: ['dns-missing'],
          calls: ['dns-create'],
          error: undefined,
        },
        {
          id: 'cloudflare:access-policy:staff',
          kinds: ['access-policy-missing'],
          calls: ['policy-create'],
          error: undefined,
        },
        {
          id: 'cloudflare:access:grafana.sgl.as',
          kinds: ['access-app-missing'],
          calls: ['app-create'],
          error: undefined,
        },
      ],
    ],
    [
      'a route removed in the dashboard',
      (s) => {
        s.configs[TID]!.ingress = desiredIngress(want.routes.slice(1));
      },
      [
        {
          id: 'cloudflare:ingress',
          kinds: ['ingress-route-missing'],
          calls: ['config-put'],
          error: undefined,
        },
      ],
    ],
    [
      'an extra route and one pointing elsewhere',
      (s) => {
        s.configs[TID]!.ingress = [
          { hostname: 'glitchtip.sgl.as', service: 'http://localhost:9999' },
          { hostname: 'grafana.sgl.as', service: 'http://localhost:3001' },
          { hostname: 'extra.sgl.as', service: 'http://localhost:22' },
          { service: 'http_status:404' },
        ];
      },
      [
        {
          id: 'cloudflare:ingress',
          kinds: ['ingress-route-differs', 'ingress-route-extra'],
          calls: ['config-put'],
          error: undefined,
        },
      ],
    ],
    [
      'an empty remote configuration (cloudflared answers 503 to everything)',
      (s) => {
        s.configs = {};
      },
      [
        {
          id: 'cloudflare:ingress',
          kinds: ['ingress-route-missing', 'ingress-route-missing', 'ingress-route-missing'],
          calls: ['config-put'],
          error: undefined,
        },
      ],
    ],
    [
      'our DNS record repointed',
      (s) => {
        s.dns[0]!.content = 'elsewhere.example.com';
      },
      [
        {
          id: 'cloudflare:dns:glitchtip.sgl.as',
          kinds: ['dns-differs'],
          calls: ['dns-update'],
          error: undefined,
        },
      ],
    ],
    [
      'our DNS record no longer proxied',
      (s) => {
        s.dns[0]!.proxied = false;
      },
      [
        {
          id: 'cloudflare:dns:glitchtip.sgl.as',
          kinds: ['dns-differs'],
          calls: ['dns-update'],
          error: undefined,
        },
      ],
    ],
    [
      'the Access policy deleted: policy and app are fixed',
      (s) => {
        s.policies = [];
        s.apps[0]!.policyIds = [];
      },
      [
        {
          id: 'cloudflare:access-policy:staff',
          kinds: ['access-policy-missing'],
          calls: ['policy-create'],
          error: undefined,
        },
        {
          id: 'cloudflare:access:grafana.sgl.as',
          kinds: ['access-app-differs'],
          calls: ['app-update'],
          error: undefined,
        },
      ],
    ],
    [
      'the policy widened in the dashboard',
      (s) => {
        s.policies[0]!.include = [{ everyone: {} }];
      },
      [
        {
          id: 'cloudflare:access-policy:staff',
          kinds: ['access-policy-differs'],
          calls: ['policy-update'],
          error: undefined,
        },
      ],
    ],
    [
      'no healthy connector: drift with nothing to call',
      (s) => {
        s.tunnels[0]!.connections = 0;
        s.tunnels[0]!.status = 'down';
      },
      [{ id: 'cloudflare:tunnel', kinds: ['tunnel-no-connector'], calls: [], error: undefined }],
    ],
  ];
  it.each(cases)('%s', (_name, mutate, expected) => {
    const s = synced();
    mutate(s);
    expect(summary(s)).toEqual(expected);
  });

  it('a record infra did not create on a route hostname is refused and left alone', () => {
    const s = synced();
    s.dns[0] = { ...s.dns[0]!, type: 'A', content: '192.0.2.7', comment: null, id: 'foreign' };
    const [item] = planTunnel(want, s).filter((i) => i.error);
    expect(item?.calls).toEqual([]);
    expect(item?.error).toBe(
      `glitchtip.sgl.as already has a DNS record infra did not create (A 192.0.2.7 (proxied), id foreign): infra leaves it as it is; delete it or point it at ${TARGET} (proxied) in the dashboard`,
    );
  });

  it('a hand-made record that already points at the tunnel is in sync and not touched', () => {
    const s = synced();
    s.dns[0]!.comment = 'made by hand';
    expect(summary(s)).toEqual([]);
  });

  it('a foreign Access application on a guarded hostname is refused', () => {
    const s = synced();
    s.apps[0]!.name = 'Grafana (by hand)';
    expect(summary(s)).toEqual([
      {
        id: 'cloudflare:access:grafana.sgl.as',
        kinds: [],
        calls: [],
        error:
          'grafana.sgl.as already has an Access application infra did not create (Grafana (by hand), id a1): infra leaves it as it is; remove it or drop access from the route',
      },
    ]);
  });

  it('a locally managed tunnel of that name is refused, nothing else planned', () => {
    const s = synced();
    s.tunnels[0]!.configSrc = 'local';
    const items = planTunnel(want, s);
    expect(items).toHaveLength(1);
    expect(items[0]!.error).toContain('is locally managed (config_src local)');
  });

  it('the configuration put is the routes in order plus the catch-all', () => {
    const s = synced();
    s.configs = {};
    const put = planTunnel(want, s)
      .flatMap((i) => i.calls)
      .find((c) => c.kind === 'config-put');
    expect(put).toEqual({
      kind: 'config-put',
      tunnel: 'toucan',
      tunnelId: TID,
      ingress: [
        { hostname: 'glitchtip.sgl.as', service: 'http://localhost:8000' },
        { hostname: 'grafana.sgl.as', service: 'http://localhost:3001' },
        { service: 'http_status:404' },
      ],
    });
  });
});

describe('error envelopes → one line', () => {
  const ctx = { account: 'a'.repeat(32), kind: 'tunnels' as const, what: 'list tunnels' };
  it.each([
    [
      403,
      [{ code: 10000, message: 'Authentication error' }],
      `Cloudflare refused the API token for account ${'a'.repeat(32)} to list tunnels (HTTP 403: 10000 Authentication error): the token (cloudflare.api_token) needs Account › Cloudflare Tunnel: Edit on this account`,
    ],
    [
      400,
      [
        {
          code: 6003,
          message: 'Invalid request headers',
          error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }],
        },
      ],
      `Cloudflare refused the API token for account ${'a'.repeat(32)} to list tunnels (HTTP 400: 6003 Invalid request headers; 6111 Invalid format for Authorization header): the token (cloudflare.api_token) needs Account › Cloudflare Tunnel: Edit on this account`,
    ],
    [
      400,
      [{ code: 1003, message: 'Invalid or missing zone id.' }],
      `Cloudflare could not list tunnels in account ${'a'.repeat(32)} (HTTP 400: 1003 Invalid or missing zone id.)`,
    ],
    [503, [], `Cloudflare could not list tunnels in account ${'a'.repeat(32)} (HTTP 503: no error detail)`],
  ])('HTTP %s %j', (status, errors, line) => {
    expect(describeApiError(status, errors, ctx)).toBe(line);
  });
});

describe('bounded retries', () => {
  it.each([
    [2, 429, null, 500],
    [3, 429, null, 1000],
    [2, 429, '3', 3000],
    [2, 429, '600', 8000],
    [2, 502, null, 500],
    [4, 500, null, 2000],
    [5, 500, null, undefined],
    [2, 400, null, undefined],
    [2, 403, null, undefined],
    [2, undefined, null, 500],
  ])('attempt %i after %s (Retry-After %s) → %s ms', (n, status, after, ms) => {
    expect(retryDelay(n, status, after)).toBe(ms);
  });
});
