import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../../src/inventory/load.js';

/** A lab as `infra lab up` records it, beside a copy of the repository's inventory. */
function lab(inventoryText?: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-overlay-'));
  const file = path.join(dir, 'inventory.yaml');
  if (inventoryText) writeFileSync(file, inventoryText);
  else copyFileSync(path.resolve('inventory.yaml'), file);
  mkdirSync(path.join(dir, '.infra', 'lab'), { recursive: true });
  writeFileSync(
    path.join(dir, '.infra', 'lab', 'lab.json'),
    JSON.stringify({
      keyFile: '/k',
      knownHostsFile: '/kh',
      hosts: [
        { name: 'toucan', publicAddress: '10.77.0.10' },
        { name: 'hornbill', publicAddress: '10.77.0.11' },
      ],
      upstream: {
        tailscaleApt: 'a',
        cloudflaredApt: 'b',
        registryMirror: 'c',
        cloudflareApi: 'http://10.77.0.250:8080/client/v4',
      },
    }),
  );
  const seed = () =>
    JSON.parse(readFileSync(path.join(dir, '.infra', 'lab', 'cloudflare', 'seed.json'), 'utf8'));
  return { file, seed };
}
const tokenOf = (file: string) =>
  loadInventory(file, { lab: true, env: {}, requireSecrets: false })
    .hosts.find((h) => h.name === 'toucan')!
    .tunnel!.token!.reveal();

describe('--lab seeds the Cloudflare stand-in from the inventory', () => {
  it('an explicit tunnel.token is a tunnel made in the dashboard: the lab edge knows it, once', () => {
    const l = lab();
    const token = tokenOf(l.file);
    expect(JSON.parse(Buffer.from(token, 'base64').toString())).toEqual({
      a: expect.stringMatching(/^[0-9a-f]{32}$/),
      t: expect.any(String),
      s: expect.any(String),
    });
    expect(tokenOf(l.file)).toBe(token);
    expect(l.seed()).toEqual({ tokens: {}, accounts: {}, dashboard_tunnels: [token] });
  });

  it('the API form seeds the account and its token later, keeping the dashboard tunnels', () => {
    const l = lab();
    const token = tokenOf(l.file);
    const text = readFileSync(l.file, 'utf8')
      .replace(
        /^tailscale:/m,
        'cloudflare:\n  api_token: env:CF_API_TOKEN\n  account_id: ' +
          'ab'.repeat(16) +
          '\n  zones: [sgl.as]\n\ntailscale:',
      )
      .replace('token: env:CF_TUNNEL_TOKEN_TOUCAN', 'name: toucan');
    writeFileSync(l.file, text);
    const inv = loadInventory(l.file, { lab: true, env: {}, requireSecrets: false });
    const api = inv.cloudflare!.apiToken!.reveal();
    expect(l.seed()).toEqual({
      tokens: { [api]: { account: 'ab'.repeat(16), permissions: ['zones', 'tunnels', 'dns', 'access'] } },
      accounts: { ['ab'.repeat(16)]: { zones: ['sgl.as'] } },
      dashboard_tunnels: [token],
    });
  });
});
