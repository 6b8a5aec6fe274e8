import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudflareApi } from '../../../src/cloudflare/client.js';
import { type DesiredTunnel, planTunnel } from '../../../src/cloudflare/plan.js';
import { tunnelTarget } from '../../../src/cloudflare/state.js';

// The SDK-backed client against the lab's Cloudflare API stand-in (lab/cloudflare/cfapi.py),
// run here on loopback: the calls infra makes, the envelope and errors the stand-in answers.
const ACCOUNT = 'ab'.repeat(16);
const TOKEN = 'lab-api-token-0123456789abcdef0123';
const PORT = 20000 + Math.floor(Math.random() * 20000);
const BASE = `http://127.0.0.1:${PORT}/client/v4`;
let proc: ChildProcess;
let dir: string;

const want: DesiredTunnel = {
  name: 'toucan',
  zones: ['sgl.as'],
  routes: [
    { hostname: 'glitchtip.sgl.as', service: 'http://localhost:8000' },
    { hostname: 'grafana.sgl.as', service: 'http://localhost:3001', access: 'staff' },
  ],
  access: { staff: { email_domains: ['sgl.as'], emails: [], session_duration: '24h' } },
};
const api = (token = TOKEN, accountId = ACCOUNT) =>
  new CloudflareApi({ baseURL: BASE, apiToken: token, accountId, zones: ['sgl.as'] });
const raw = async (method: string, p: string, body?: unknown, token = TOKEN) => {
  const r = await fetch(`${BASE}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return {
    status: r.status,
    doc: (await r.json()) as { success: boolean; result: unknown; errors: { code: number }[] },
  };
};
const writes = async () =>
  ((await (await fetch(`http://127.0.0.1:${PORT}/lab/calls`)).json()) as { write: number }).write;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'infra-cfapi-'));
  writeFileSync(
    path.join(dir, 'seed.json'),
    JSON.stringify({
      tokens: {
        [TOKEN]: { account: ACCOUNT, permissions: ['zones', 'tunnels', 'dns', 'access'] },
        'lab-token-without-dns-00000000': { account: ACCOUNT, permissions: ['zones', 'tunnels', 'access'] },
      },
      accounts: { [ACCOUNT]: { zones: ['sgl.as'] } },
    }),
  );
  proc = spawn('python3', [path.resolve('lab/cloudflare/cfapi.py'), dir, String(PORT), String(PORT + 1)], {
    stdio: 'pipe',
  });
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`http://127.0.0.1:${PORT}/lab/calls`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the API stand-in did not start');
});
afterAll(() => {
  proc?.kill();
});

describe('client + plan against the API stand-in', () => {
  it('a fresh account converges, and the second plan has no call at all', async () => {
    const c = api();
    let state = await c.read(['toucan'], true);
    expect(state.zones['sgl.as']).toMatch(/^[0-9a-f]{32}$/);
    const tunnel = await c.createTunnel('toucan');
    expect(tunnel.configSrc).toBe('cloudflare');
    const token = await c.token(tunnel);
    expect(JSON.parse(Buffer.from(token, 'base64').toString())).toMatchObject({ a: ACCOUNT, t: tunnel.id });
    state = await c.read(['toucan'], true);
    const calls = planTunnel(want, state).flatMap((i) => i.calls);
    expect(calls.map((x) => x.kind).sort()).toEqual([
      'app-create',
      'config-put',
      'dns-create',
      'dns-create',
      'policy-create',
    ]);
    await c.apply(calls, state.policies);
    const before = await writes();
    const again = await c.read(['toucan'], true);
    const items = planTunnel(want, again).filter((i) => i.calls.length || i.error);
    expect(items).toEqual([]);
    expect(again.configs[tunnel.id]!.version).toBe(1);
    expect(again.dns.find((r) => r.name === 'glitchtip.sgl.as')?.content).toBe(tunnelTarget(tunnel.id));
    // Reads only: one per resource kind (zones, tunnels, apps, policies), one per zone, one per tunnel.
    expect(await writes()).toBe(before);
  });

  it('drift made through the API (the dashboard) is planned back', async () => {
    const c = api();
    const s = await c.read(['toucan'], true);
    const t = s.tunnels.find((x) => x.name === 'toucan')!;
    const rec = s.dns.find((r) => r.name === 'glitchtip.sgl.as')!;
    await raw('PUT', `/accounts/${ACCOUNT}/cfd_tunnel/${t.id}/configurations`, {
      config: {
        ingress: [
          { hostname: 'extra.sgl.as', service: 'http://localhost:22' },
          { service: 'http_status:404' },
        ],
      },
    });
    await raw('PUT', `/zones/${rec.zoneId}/dns_records/${rec.id}`, {
      type: 'CNAME',
      name: rec.name,
      content: 'elsewhere.example.com',
      proxied: true,
      comment: rec.comment,
    });
    const pol = s.policies[0]!;
    await raw('DELETE', `/accounts/${ACCOUNT}/access/policies/${pol.id}`);
    const drift = await c.read(['toucan'], true);
    expect(drift.configs[t.id]!.version).toBe(2);
    const items = planTunnel(want, drift).filter((i) => i.calls.length);
    expect(items.map((i) => i.id)).toEqual([
      'cloudflare:ingress',
      'cloudflare:dns:glitchtip.sgl.as',
      'cloudflare:access-policy:staff',
      'cloudflare:access:grafana.sgl.as',
    ]);
    await c.apply(
      items.flatMap((i) => i.calls),
      drift.policies,
    );
    expect(planTunnel(want, await c.read(['toucan'], true)).filter((i) => i.calls.length || i.error)).toEqual(
      [],
    );
  });

  it('a record infra did not create is refused, and stays as it was', async () => {
    const c = api();
    const s = await c.read(['toucan'], true);
    const zone = s.zones['sgl.as']!;
    const made = await raw('POST', `/zones/${zone}/dns_records`, {
      type: 'A',
      name: 'status.sgl.as',
      content: '192.0.2.7',
      proxied: false,
    });
    expect(made.doc.success).toBe(true);
    const w = {
      ...want,
      routes: [...want.routes, { hostname: 'status.sgl.as', service: 'http://localhost:3002' }],
    };
    const item = planTunnel(w, await c.read(['toucan'], true)).find(
      (i) => i.id === 'cloudflare:dns:status.sgl.as',
    )!;
    expect(item.calls).toEqual([]);
    expect(item.error).toContain('status.sgl.as already has a DNS record infra did not create (A 192.0.2.7');
    // The real API refuses a CNAME beside it too (81053): the stand-in models that.
    const clash = await raw('POST', `/zones/${zone}/dns_records`, {
      type: 'CNAME',
      name: 'status.sgl.as',
      content: 'x.cfargotunnel.com',
      proxied: true,
    });
    expect(clash.status).toBe(400);
    expect(clash.doc.errors[0]?.code).toBe(81053);
  });

  it('a wrong token: one line naming the account and the permission, never the token', async () => {
    const err = await api('wrong-token-0000000000000000')
      .read(['toucan'], true)
      .catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(
      new RegExp(
        `^Cloudflare refused the API token for account ${ACCOUNT} to (list zones|list tunnels|list Access applications|list Access policies) \\(HTTP 403: 10000 Authentication error\\): the token \\(cloudflare.api_token\\) needs `,
      ),
    );
    expect(msg).not.toContain('wrong-token');
  });

  it('a token without DNS permission is named by the permission it lacks', async () => {
    const err = await api('lab-token-without-dns-00000000')
      .read(['toucan'], true)
      .catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `Cloudflare refused the API token for account ${ACCOUNT} to list DNS records of sgl.as (HTTP 403: 10000 Authentication error): the token (cloudflare.api_token) needs Zone › DNS: Edit on this account`,
    );
  });

  it('the wrong account for a valid token is refused', async () => {
    const err = await api(TOKEN, 'cd'.repeat(16))
      .read(['toucan'], true)
      .catch((e: Error) => e);
    expect((err as Error).message).toContain(`for account ${'cd'.repeat(16)}`);
  });

  it('a configuration without the catch-all is refused by the API, as upstream', async () => {
    const s = await api().read(['toucan'], true);
    const t = s.tunnels.find((x) => x.name === 'toucan')!;
    const r = await raw('PUT', `/accounts/${ACCOUNT}/cfd_tunnel/${t.id}/configurations`, {
      config: { ingress: [{ hostname: 'a.sgl.as', service: 'http://localhost:1' }] },
    });
    expect(r.status).toBe(400);
    expect(r.doc.success).toBe(false);
  });
});

describe('bounded retries through the client', () => {
  it('429 then 503 then success: three tries; always 500: a final line after the limit', async () => {
    let n = 0;
    let mode: 'flaky' | 'down' = 'flaky';
    const srv = createServer((_req, res) => {
      n++;
      const fail = mode === 'down' || n <= 2;
      res.writeHead(fail ? (n === 1 ? 429 : 503) : 200, {
        'content-type': 'application/json',
        'retry-after': '0',
      });
      res.end(
        JSON.stringify(
          fail
            ? {
                success: false,
                errors: [{ code: 10429, message: 'rate limited' }],
                messages: [],
                result: null,
              }
            : {
                success: true,
                errors: [],
                messages: [],
                result: [],
                result_info: { page: 1, total_pages: 1 },
              },
        ),
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const c = new CloudflareApi({
      baseURL: `http://127.0.0.1:${port}/client/v4`,
      apiToken: TOKEN,
      accountId: ACCOUNT,
      zones: [],
      sleep: async () => {},
    });
    try {
      expect(await c.createTunnel('x').catch((e) => e.message)).toBeDefined();
      expect(n).toBe(3);
      mode = 'down';
      n = 0;
      const msg = await c.token({ id: 'x', name: 'toucan', connections: 0 }).catch((e: Error) => e.message);
      expect(n).toBe(4);
      expect(msg).toBe(
        `Cloudflare could not read the token of tunnel toucan in account ${ACCOUNT} (HTTP 503: 10429 rate limited) after 4 tries`,
      );
    } finally {
      srv.close();
    }
  });
});
