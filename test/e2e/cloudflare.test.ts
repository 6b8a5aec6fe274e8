import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLab, infra, onHost, REPO, resetInventory, WORK } from './harness.js';

/**
 * The Cloudflare side against the lab's API stand-in (lab/cloudflare/cfapi.py): the lab records
 * its URL as an upstream, seeds the account from the inventory, and infra reads it in check.
 * Needs no bootstrap: the tunnel's account side is read beside the hosts' probes.
 */
const ACCOUNT = '0123456789abcdef0123456789abcdef';
const apiInventory = () =>
  readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8')
    .replace(
      /^tailscale:/m,
      `cloudflare:\n  api_token: env:CF_API_TOKEN\n  account_id: ${ACCOUNT}\n  zones: [sgl.as]\n\ntailscale:`,
    )
    .replace('token: env:CF_TUNNEL_TOKEN_TOUCAN', 'name: toucan');
const LAB = path.join(WORK, '.infra', 'lab');
let api = '';
const labCalls = async () =>
  (await (await fetch(api.replace('/client/v4', '/lab/calls'))).json()) as { read: number; write: number };

beforeAll(async () => {
  resetInventory(apiInventory());
  await ensureLab();
  const status = JSON.parse((await infra(['lab', 'status', '--json'])).stdout) as {
    upstream: { cloudflareApi?: string };
  };
  api = status.upstream.cloudflareApi ?? '';
}, 600_000);
afterAll(() => resetInventory());

describe('Cloudflare API stand-in in the lab', () => {
  it('lab status --json lists it under upstream, and it answers with the Cloudflare envelope', async () => {
    expect(api).toMatch(/^http:\/\/10\.77\.0\.\d+:8080\/client\/v4$/);
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
    const doc = JSON.parse(r.stdout) as { hosts: { findings: { task: string; kind: string }[] }[] };
    const cf = doc.hosts[0]!.findings.filter((f) => f.task.startsWith('cloudflare:'));
    expect(cf).toEqual(
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
    const before = await onHost('toucan', 'ls -la --time-style=+%s /etc 2>/dev/null | md5sum');
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
      expect((await onHost('toucan', 'ls -la --time-style=+%s /etc 2>/dev/null | md5sum')).stdout).toBe(
        before.stdout,
      );
      expect((await labCalls()).write).toBe(0);
    } finally {
      writeFileSync(file, good);
    }
  }, 300_000);
});
