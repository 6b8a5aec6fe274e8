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
  upstream: { tailscaleApt: string; cloudflaredApt: string; registryMirror: string; cloudflareApi?: string };
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
  ].filter((r): r is string => !!r);
  Object.assign(env, labSecrets(dir, refs));
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
