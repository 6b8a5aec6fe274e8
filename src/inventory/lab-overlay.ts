import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InfraError } from '../errors.js';
import { SECRET_REF } from './schema.js';
import type { Inventory } from './types.js';

/** The part of the lab's lab.json that --lab needs (written by `infra lab up`). */
interface LabFile {
  keyFile: string;
  knownHostsFile: string;
  hosts: { name: string; publicAddress: string }[];
  upstream: {
    tailscaleApt: string;
    cloudflaredApt: string;
    registryMirror: string;
    cloudflareApi?: string;
    offsiteRestic?: string;
  };
}

export function labStateDir(inventoryDir: string): string {
  return path.join(inventoryDir, '.infra', 'lab');
}

/**
 * Points an inventory at the local lab without touching the user's file: lab addresses, the lab
 * key and known_hosts, the lab's stand-in apt repositories and registry mirror, distro Docker
 * packages, and stable fake secrets (generated once per lab, so re-runs see no token drift).
 */
export function overlayLab(inv: Inventory, env: Record<string, string | undefined>): void {
  const dir = labStateDir(inv.dir);
  const file = path.join(dir, 'lab.json');
  if (!existsSync(file))
    throw new InfraError('no lab is running for this inventory', 'start one with: infra lab up');
  const lab = JSON.parse(readFileSync(file, 'utf8')) as LabFile;
  inv.lab = true;
  inv.stateDir = dir;
  inv.knownHostsFile = lab.knownHostsFile;
  inv.upstream = {
    ...inv.upstream,
    tailscale_apt: lab.upstream.tailscaleApt,
    cloudflared_apt: lab.upstream.cloudflaredApt,
    registry_mirror: lab.upstream.registryMirror,
    // Older labs have no Cloudflare API stand-in: then the inventory's own URL stays.
    ...(lab.upstream.cloudflareApi ? { cloudflare_api: lab.upstream.cloudflareApi } : {}),
  };
  inv.docker = { ...inv.docker, source: 'distro' };
  // The off-site repository: this lab's on its `rclone serve restic` (src/lab/offsite.ts).
  if (inv.offsite) {
    if (!lab.upstream.offsiteRestic)
      throw new InfraError('this lab has no off-site restic server yet', 'run: infra lab up');
    inv.offsite.repository = lab.upstream.offsiteRestic;
  }
  for (const host of inv.hosts) {
    const labHost = lab.hosts.find((h) => h.name === host.name);
    if (!labHost) throw new InfraError(`the lab has no host ${host.name}`, 'run: infra lab up');
    host.address = labHost.publicAddress;
    host.ssh = { user: 'root', port: 22, key: lab.keyFile };
  }
  const refs = [
    inv.tailscale.authKeyRef,
    ...inv.hosts.flatMap((h) => [h.tunnel?.tokenRef, h.tunnel?.credentialsRef]),
    inv.cloudflare?.apiTokenRef,
    inv.offsite?.passwordRef,
    ...(inv.offsite?.env.map((e) => e.ref) ?? []),
  ].filter((r): r is string => !!r);
  const secrets = labSecrets(dir, refs);
  Object.assign(env, secrets);
  const value = (ref: string) => secrets[SECRET_REF.exec(ref)![1]!]!;
  seedCloudflare(
    dir,
    inv.cloudflare && { cf: inv.cloudflare, token: value(inv.cloudflare.apiTokenRef) },
    inv.hosts.flatMap((h) =>
      h.tunnel?.kind === 'token' && h.tunnel.tokenRef ? [value(h.tunnel.tokenRef)] : [],
    ),
  );
}

interface Seed {
  tokens: Record<string, unknown>;
  accounts: Record<string, unknown>;
  dashboard_tunnels?: string[];
}

/**
 * The lab's Cloudflare account, as an operator would have made it before running infra: the
 * inventory's account with its zones, and one API token with the permissions the README lists.
 * Written once: a token changed later (a test's wrong token) is not the account's, and is refused.
 * An explicit `tunnel.token` is a tunnel made in the dashboard: the lab edge knows it
 * (`dashboard_tunnels`, lab/cloudflare/edge.py), so the host's cloudflared connects with it.
 */
function seedCloudflare(
  dir: string,
  api: { cf: NonNullable<Inventory['cloudflare']>; token: string } | undefined,
  dashboardTokens: string[],
): void {
  const file = path.join(dir, 'cloudflare', 'seed.json');
  const seed: Seed = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Seed)
    : { tokens: {}, accounts: {} };
  let changed = false;
  if (api && !(seed.accounts[api.cf.accountId] && Object.keys(seed.tokens).length)) {
    seed.accounts[api.cf.accountId] = { zones: api.cf.zones };
    seed.tokens[api.token] = {
      account: api.cf.accountId,
      permissions: ['zones', 'tunnels', 'dns', 'access'],
    };
    changed = true;
  }
  for (const t of dashboardTokens) {
    seed.dashboard_tunnels ??= [];
    if (seed.dashboard_tunnels.includes(t)) continue;
    seed.dashboard_tunnels.push(t);
    changed = true;
  }
  if (!changed) return;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(seed, null, 2), { mode: 0o600 });
}

function labSecrets(dir: string, refs: string[]): Record<string, string> {
  const file = path.join(dir, 'secrets.json');
  const known: Record<string, string> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  let added = false;
  for (const ref of refs) {
    const name = SECRET_REF.exec(ref)![1]!;
    if (known[name]) continue;
    known[name] = fakeSecret(name);
    added = true;
  }
  if (added) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify(known, null, 2), { mode: 0o600 });
  }
  return known;
}

/** Shaped like the real thing, so the stand-ins validate them as the real services would. */
export function fakeSecret(name: string): string {
  if (/TS|TAILSCALE/.test(name))
    return `tskey-auth-lab${randomBytes(6).toString('hex')}-${randomBytes(12).toString('hex')}`;
  // Cloudflare API tokens are 40 characters of letters, digits, - and _.
  if (/API_TOKEN/.test(name)) return randomBytes(30).toString('base64url');
  if (/TUNNEL|CF|CLOUDFLARE/.test(name)) {
    const token = {
      a: randomBytes(16).toString('hex'),
      t: randomUUID(),
      s: randomBytes(32).toString('base64'),
    };
    return Buffer.from(JSON.stringify(token)).toString('base64');
  }
  return `lab-${randomBytes(16).toString('hex')}`;
}
