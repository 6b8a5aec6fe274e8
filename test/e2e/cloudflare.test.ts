import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cfApi, viaEdge as edgeRequest } from '../support/cloudflare.js';
import { changesOf, run } from './bootstrap-helpers.js';
import { ensureLab, infra, onHost, REPO, resetInventory, WORK } from './harness.js';

/**
 * The tunnel's routes as the public internet reaches them, on the lab: the API stand-in
 * (lab/cloudflare/cfapi.py) holds the account, its edge (edge.py) takes requests for public
 * hostnames, and toucan's cloudflared stand-in connects to that edge with the token infra fetched
 * and serves the configuration infra pushed. The files before this one leave toucan bootstrapped
 * with the repository's token tunnel; this one switches it to the API form and back.
 */
const ACCOUNT = '0123456789abcdef0123456789abcdef';
const apiInventory = () =>
  readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8')
    .replace(
      /^tailscale:/m,
      `cloudflare:\n  api_token: env:CF_API_TOKEN\n  account_id: ${ACCOUNT}\n  zones: [sgl.as]\n  access:\n    staff:\n      email_domains: [sgl.as]\n\ntailscale:`,
    )
    .replace('token: env:CF_TUNNEL_TOKEN_TOUCAN', 'name: toucan')
    // Behind Access in this test only (the seed keeps Dokploy's own login): one policy, one app.
    .replace(
      'service: http://localhost:3000   # Dokploy',
      'service: http://localhost:3000\n          access: staff   # Dokploy',
    );
const LAB = path.join(WORK, '.infra', 'lab');
const TOKEN = () =>
  (JSON.parse(readFileSync(path.join(LAB, 'secrets.json'), 'utf8')) as Record<string, string>).CF_API_TOKEN!;
let api = '';
let edge = { host: '', port: 0 };
const lab = async (p: string, method = 'GET') =>
  (await (await fetch(api.replace('/client/v4', p), { method })).json()) as Record<string, unknown>;
const labCalls = async () => (await lab('/lab/calls')) as { read: number; write: number; writes: string[] };
/** The test's own hand on the account, as an operator in the dashboard (the seeded token). */
const cf = <T = Record<string, unknown>>(method: string, p: string, body?: unknown) =>
  cfApi(api, TOKEN)<T>(method, p, body);
const viaEdge = (host: string, p = '/') => edgeRequest(edge, host, p);
const findings = (stdout: string) =>
  (
    JSON.parse(stdout) as { hosts: { findings: { task: string; kind: string }[] }[] }
  ).hosts[0]!.findings.filter((f) => f.task.startsWith('cloudflare:'));
const zone = async () => (await cf<{ id: string }[]>('GET', '/zones?name=sgl.as'))[0]!.id;
const record = async (name: string) =>
  (
    await cf<{ id: string; content: string; type: string; comment: string | null }[]>(
      'GET',
      `/zones/${await zone()}/dns_records?name=${name}`,
    )
  )[0]!;
const tunnelId = async () =>
  (await cf<{ id: string }[]>('GET', `/accounts/${ACCOUNT}/cfd_tunnel?name=toucan&is_deleted=false`))[0]!.id;

beforeAll(async () => {
  resetInventory();
  await ensureLab();
  // Run alone on a fresh lab, this file needs toucan as the files before leave it (not in CI).
  if ((await onHost('toucan', 'test -f /etc/systemd/system/cloudflared.service')).code !== 0) {
    const b = await run('bootstrap', 'toucan');
    if (b.code !== 0) throw new Error(`bootstrap toucan:\n${b.all}`);
  }
  const status = JSON.parse((await infra(['lab', 'status', '--json'])).stdout) as {
    upstream: { cloudflareApi?: string; cloudflareEdge?: string };
  };
  api = status.upstream.cloudflareApi ?? '';
  const e = new URL(status.upstream.cloudflareEdge ?? 'http://0.0.0.0:0');
  edge = { host: e.hostname, port: Number(e.port || 80) };
  // A fresh account for this file (the lab's seed stays): a re-run starts where CI starts.
  await lab('/lab/state', 'DELETE');
  await lab('/lab/calls', 'DELETE');
  resetInventory(apiInventory());
}, 900_000);

// Later files expect toucan with the repository's token tunnel: the same inventory, converged.
afterAll(async () => {
  resetInventory();
  const back = await run('apply', 'toucan');
  if (back.code !== 0) throw new Error(`apply toucan (back to the token tunnel):\n${back.all}`);
}, 600_000);

describe('Cloudflare API stand-in in the lab', () => {
  it('lab status --json lists it and its edge under upstream; it answers with the Cloudflare envelope', async () => {
    expect(api).toMatch(/^http:\/\/10\.77\.0\.\d+:8080\/client\/v4$/);
    expect(edge.host).toBe(new URL(api).hostname);
    const r = await fetch(`${api}/zones`, { headers: { authorization: 'Bearer not-a-real-token-000' } });
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({
      success: false,
      errors: [{ code: 10000, message: 'Authentication error' }],
      messages: [],
      result: null,
    });
  });

  it('check reads the account beside the probes: the missing tunnel, its routes and records are drift', async () => {
    const r = await infra(['--lab', 'check', 'toucan', '--json']);
    expect(findings(r.stdout)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ task: 'cloudflare:tunnel', kind: 'tunnel-missing' }),
        expect.objectContaining({ task: 'cloudflare:ingress', kind: 'ingress-route-missing' }),
        expect.objectContaining({ task: 'cloudflare:dns:glitchtip.sgl.as', kind: 'dns-missing' }),
        expect.objectContaining({ task: 'cloudflare:dns:dokploy-toucan.sgl.as', kind: 'dns-missing' }),
      ]),
    );
    expect(r.code).toBe(2);
    expect((await labCalls()).write).toBe(0);
  }, 300_000);

  it('a wrong API token: one line naming the account and the permission; nothing on the host changes', async () => {
    const file = path.join(LAB, 'secrets.json');
    const good = readFileSync(file, 'utf8');
    const before = await onHost(
      'toucan',
      'ls -la --time-style=+%s /etc /etc/cloudflared 2>/dev/null | md5sum',
    );
    const secrets = JSON.parse(good) as Record<string, string>;
    writeFileSync(
      file,
      JSON.stringify({ ...secrets, CF_API_TOKEN: 'wrong0token0for0the0lab0account0000000' }),
    );
    try {
      const r = await infra(['--lab', 'apply', 'toucan']);
      expect(r.code).toBe(1);
      expect(r.all).toMatch(
        new RegExp(
          `Cloudflare refused the API token for account ${ACCOUNT} to [a-zA-Z ]+ \\(HTTP 403: 10000 Authentication error\\): the token \\(cloudflare.api_token\\) needs [^\\n]+ on this account`,
        ),
      );
      expect(r.all).not.toContain('wrong0token');
      expect(r.all).not.toMatch(/^\s+at /m);
      expect(
        (await onHost('toucan', 'ls -la --time-style=+%s /etc /etc/cloudflared 2>/dev/null | md5sum')).stdout,
      ).toBe(before.stdout);
      expect((await labCalls()).write).toBe(0);
    } finally {
      writeFileSync(file, good);
    }
  }, 300_000);
});

describe('routes that really route: API configuration → tunnel on toucan → the service', () => {
  it('apply creates the tunnel, its configuration, records and Access; each hostname reaches its service through the edge', async () => {
    const r = await run('apply', 'toucan');
    expect(r.code, r.all).toBe(0);
    const writes = (await labCalls()).writes as string[];
    expect(writes.map((w) => w.replace(/[0-9a-f-]{32,36}/g, 'ID'))).toEqual(
      expect.arrayContaining([
        'POST /accounts/ID/cfd_tunnel',
        'PUT /accounts/ID/cfd_tunnel/ID/configurations',
        'POST /zones/ID/dns_records',
        'POST /accounts/ID/access/policies',
        'POST /accounts/ID/access/apps',
      ]),
    );
    const id = await tunnelId();
    expect((await record('glitchtip.sgl.as')).content).toBe(`${id}.cfargotunnel.com`);
    // cloudflared runs with the token the API handed out, without a local ingress.
    const unit = await onHost('toucan', 'systemctl cat cloudflared.service; systemctl is-active cloudflared');
    expect(unit.stdout).toMatch(
      /tunnel --metrics 127\.0\.0\.1:20241 run --token-file \/etc\/cloudflared\/token/,
    );
    expect(unit.stdout).toMatch(/^active$/m);

    const health = await viaEdge('glitchtip.sgl.as', '/_health/');
    expect(health, JSON.stringify(health)).toMatchObject({ status: 200, edge: `tunnel ${id}` });
    const dokploy = await viaEdge('dokploy-toucan.sgl.as', '/');
    expect(dokploy.edge).toBe(`tunnel ${id}`);
    expect([404, 502, 503, 530], JSON.stringify(dokploy)).not.toContain(dokploy.status);
    // No record: no tunnel. A record to the tunnel but no rule: the catch-all's 404, from cloudflared.
    expect(await viaEdge('unlisted.sgl.as')).toMatchObject({ status: 404, edge: 'no-route' });
    await cf('POST', `/zones/${await zone()}/dns_records`, {
      type: 'CNAME',
      name: 'unrouted.sgl.as',
      content: `${id}.cfargotunnel.com`,
      proxied: true,
    });
    expect(await viaEdge('unrouted.sgl.as')).toMatchObject({ status: 404, edge: `tunnel ${id}` });

    await lab('/lab/calls', 'DELETE');
    const again = await changesOf('apply', 'toucan');
    expect(again.code, again.stdout).toBe(0);
    expect(again.changes, again.stdout).toBe(0);
    expect((await labCalls()).write).toBe(0);
  }, 600_000);

  it('drift made in the dashboard (route removed, extra route, record repointed, policy deleted): check exits 2, apply fixes it', async () => {
    const id = await tunnelId();
    const cfgPath = `/accounts/${ACCOUNT}/cfd_tunnel/${id}/configurations`;
    const cfg = await cf<{ config: { ingress: { hostname?: string; service: string }[] } }>('GET', cfgPath);
    const ingress = cfg.config.ingress.filter((r) => r.hostname !== 'glitchtip.sgl.as');
    await cf('PUT', cfgPath, {
      config: { ingress: [{ hostname: 'extra.sgl.as', service: 'http://localhost:9999' }, ...ingress] },
    });
    const rec = await record('dokploy-toucan.sgl.as');
    await cf('PATCH', `/zones/${await zone()}/dns_records/${rec.id}`, {
      content: '00000000-0000-4000-8000-000000000000.cfargotunnel.com',
    });
    const policies = await cf<{ id: string; name: string }[]>('GET', `/accounts/${ACCOUNT}/access/policies`);
    await cf(
      'DELETE',
      `/accounts/${ACCOUNT}/access/policies/${policies.find((p) => p.name === 'infra: staff')!.id}`,
    );
    // The route is gone at the edge at once: cloudflared took the new version.
    const gone = await viaEdge('glitchtip.sgl.as', '/_health/');
    expect(gone).toMatchObject({ status: 404, edge: `tunnel ${id}` });

    const check = await infra(['--lab', 'check', 'toucan', '--json']);
    expect(check.code, check.all).toBe(2);
    expect(findings(check.stdout).map((f) => `${f.task} ${f.kind}`)).toEqual(
      expect.arrayContaining([
        'cloudflare:ingress ingress-route-missing',
        'cloudflare:ingress ingress-route-extra',
        'cloudflare:dns:dokploy-toucan.sgl.as dns-differs',
        'cloudflare:access-policy:staff access-policy-missing',
      ]),
    );
    const fix = await run('apply', 'toucan');
    expect(fix.code, fix.all).toBe(0);
    const after = await infra(['--lab', 'check', 'toucan', '--json']);
    expect(findings(after.stdout)).toEqual([]);
    expect(after.code, after.all).toBe(0);
    expect(await viaEdge('glitchtip.sgl.as', '/_health/')).toMatchObject({
      status: 200,
      edge: `tunnel ${id}`,
    });
  }, 600_000);

  it('a DNS record infra did not create on a route hostname is refused in one line and left as it was', async () => {
    const z = await zone();
    await cf('DELETE', `/zones/${z}/dns_records/${(await record('glitchtip.sgl.as')).id}`);
    const foreign = await cf<{ id: string }>('POST', `/zones/${z}/dns_records`, {
      type: 'A',
      name: 'glitchtip.sgl.as',
      content: '192.0.2.7',
      proxied: false,
    });
    const before = await cf<Record<string, unknown>>('GET', `/zones/${z}/dns_records/${foreign.id}`);
    await lab('/lab/calls', 'DELETE');
    const r = await run('apply', 'toucan');
    expect(r.code, r.all).toBe(1);
    const lines = r.all.split('\n').filter((l) => l.includes('did not create'));
    expect(lines.length, r.all).toBeGreaterThan(0);
    expect(lines[0]).toMatch(
      `glitchtip.sgl.as already has a DNS record infra did not create (A 192.0.2.7, id ${foreign.id}): infra leaves it as it is`,
    );
    expect(r.all).not.toMatch(/^\s+at /m);
    expect(await cf('GET', `/zones/${z}/dns_records/${foreign.id}`)).toEqual(before);
    expect((await labCalls()).write).toBe(0);
  }, 600_000);
});
