import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { InventoryError } from '../errors.js';
import { Secret } from '../secrets.js';
import { analyticsSettings } from './analytics.js';
import { parseEnvFile } from './env-file.js';
import { overlayLab } from './lab-overlay.js';
import { offsiteSettings } from './offsite.js';
import { formatProblem, type Locate, type Path, type Problem, parseInventoryText } from './parse.js';
import { DEFAULT_WAL_CAP, SECRET_REF } from './schema.js';
import type { Inventory } from './types.js';

export interface LoadOptions {
  /** Commands that may need a secret (apply, bootstrap) fail early when one is missing. */
  requireSecrets: boolean;
  /** Run against the local lab: connection details, upstreams and secrets come from it. */
  lab?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function defaultInventoryPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.INFRA_INVENTORY ?? 'inventory.yaml');
}

/** Reads, validates and resolves an inventory; throws InventoryError listing every problem. */
export function loadInventory(file: string, opts: LoadOptions): Inventory {
  const shown = path.relative(process.cwd(), file) || file;
  if (!existsSync(file))
    throw new InventoryError([`${shown}: no such file (use -i FILE or INFRA_INVENTORY)`]);
  const parsed = parseInventoryText(readFileSync(file, 'utf8'));
  if (!parsed.ok) throw new InventoryError(parsed.problems.map((p) => formatProblem(shown, p)));
  const { doc, locate } = parsed;
  const dir = path.dirname(path.resolve(file));
  const stateDir = path.join(dir, '.infra');

  const envFile = path.join(dir, '.env');
  const fileEnv = existsSync(envFile) ? parseEnvFile(readFileSync(envFile, 'utf8')) : {};
  const env = { ...fileEnv, ...(opts.env ?? process.env) };
  const problems: Problem[] = [];
  const secret = (ref: string, at: Path): Secret | undefined => {
    const name = SECRET_REF.exec(ref)![1]!;
    const value = env[name];
    if (value === undefined || value === '') {
      if (opts.requireSecrets) problems.push(missing(locate, at, name, envFile));
      return undefined;
    }
    if (value.length < 8)
      problems.push({
        ...locate(at),
        path: at.join('.'),
        message: `${name} is too short to be a secret (8 characters at least)`,
      });
    return new Secret(ref, value);
  };

  const d = doc.defaults;
  const inv: Inventory = {
    file: path.resolve(file),
    dir,
    stateDir,
    knownHostsFile: path.join(dir, 'known_hosts'),
    tailscale: { authKey: undefined, authKeyRef: doc.tailscale.auth_key, ssh: doc.tailscale.ssh },
    firewall: doc.firewall,
    docker: doc.docker,
    upstream: doc.upstream,
    observability: { retentionDays: doc.observability.retention_days },
    glitchtip: doc.glitchtip && {
      adminEmail: doc.glitchtip.admin_email,
      openRegistration: doc.glitchtip.open_registration,
      emailUrl: undefined,
      emailUrlRef: doc.glitchtip.email_url,
      fromEmail: doc.glitchtip.from_email,
    },
    dokploy: { ownerEmail: doc.dokploy.owner_email, apiKeyRef: doc.dokploy.api_key },
    cloudflare: doc.cloudflare && {
      apiToken: undefined,
      apiTokenRef: doc.cloudflare.api_token,
      accountId: doc.cloudflare.account_id,
      zones: doc.cloudflare.zones,
      access: doc.cloudflare.access,
    },
    offsite: offsiteSettings(doc.backups.offsite),
    analytics: analyticsSettings(doc),
    secrets: [],
    lab: false,
    apps: Object.entries(doc.apps).map(([name, a]) => ({
      name,
      host: a.host,
      postgres: a.postgres,
      backupRetentionDays: a.backup_retention_days ?? 14,
      controlRetentionDays: a.backup_control_retention_days ?? 60,
      pitr: a.pitr ?? false,
      pitrWalCap: a.pitr_wal_cap ?? DEFAULT_WAL_CAP,
    })),
    hosts: Object.entries(doc.hosts).map(([name, h]) => ({
      name,
      role: h.role,
      address: h.address,
      ssh: {
        user: h.ssh?.user ?? d.ssh?.user ?? 'root',
        port: h.ssh?.port ?? d.ssh?.port ?? 22,
        key: expandHome(h.ssh?.key ?? d.ssh?.key, dir),
      },
      timezone: h.timezone ?? d.timezone ?? 'Etc/UTC',
      packages: [...(d.packages ?? []), ...(h.packages ?? [])],
      tunnel: h.tunnel && {
        kind: h.tunnel.name ? 'api' : h.tunnel.credentials ? 'local' : 'token',
        name: h.tunnel.name,
        token: undefined,
        tokenRef: h.tunnel.token,
        id: h.tunnel.id,
        credentialsRef: h.tunnel.credentials,
        routes: h.tunnel.routes,
      },
      publicPorts: h.public_ports ?? [],
    })),
  };
  if (opts.lab) overlayLab(inv, env);
  inv.tailscale.authKey = secret(inv.tailscale.authKeyRef, ['tailscale', 'auth_key']);
  for (const h of inv.hosts) {
    const t = h.tunnel;
    if (t?.tokenRef) t.token = secret(t.tokenRef, ['hosts', h.name, 'tunnel', 'token']);
    if (t?.credentialsRef)
      t.credentials = secret(t.credentialsRef, ['hosts', h.name, 'tunnel', 'credentials']);
  }
  const cf = inv.cloudflare;
  if (cf) cf.apiToken = secret(cf.apiTokenRef, ['cloudflare', 'api_token']);
  if (inv.dokploy.apiKeyRef) inv.dokploy.apiKey = secret(inv.dokploy.apiKeyRef, ['dokploy', 'api_key']);
  const gt = inv.glitchtip;
  if (gt?.emailUrlRef) {
    const at = ['glitchtip', 'email_url'];
    gt.emailUrl = secret(gt.emailUrlRef, at);
    const bad = gt.emailUrl && emailUrlProblem(gt.emailUrl.reveal());
    // The value is a secret: the message names the variable, never the value.
    if (bad)
      problems.push({ ...locate(at), path: at.join('.'), message: `${gt.emailUrlRef.slice(4)} ${bad}` });
  }
  const os = inv.offsite;
  if (os) {
    os.password = secret(os.passwordRef, ['backups', 'offsite', 'password']);
    for (const e of os.env) e.value = secret(e.ref, ['backups', 'offsite', 'env', e.name]);
  }
  if (problems.length > 0) throw new InventoryError(problems.map((p) => formatProblem(shown, p)));
  inv.secrets = [
    inv.tailscale.authKey,
    ...inv.hosts.flatMap((h) => [h.tunnel?.token, h.tunnel?.credentials]),
    cf?.apiToken,
    gt?.emailUrl,
    inv.dokploy.apiKey,
    os?.password,
    ...(os?.env.map((e) => e.value) ?? []),
  ].filter((s): s is Secret => !!s);
  return inv;
}

/**
 * GlitchTip reads EMAIL_URL with django-environ's email_url (schemes smtp, smtps, smtp+tls,
 * smtp+ssl); infra writes it single-quoted into an env file, so a quote or a newline is refused.
 */
export function emailUrlProblem(v: string): string | undefined {
  if (!/^(smtp|smtps|smtp\+tls|smtp\+ssl):\/\/[^\s'"]+$/.test(v))
    return 'is not an SMTP URL: expected smtp://, smtps://, smtp+tls:// or smtp+ssl://user:password@host:port (URL-encode special characters; no quotes or spaces)';
  return undefined;
}

function missing(locate: Locate, at: Path, name: string, envFile: string): Problem {
  return {
    ...locate(at),
    path: at.join('.'),
    message: `secret ${name} is not set (export it, or put ${name}=… in ${path.basename(envFile)} beside the inventory)`,
  };
}

function expandHome(p: string | undefined, dir: string): string | undefined {
  if (!p) return undefined;
  if (p.startsWith('~/')) return path.join(homedir(), p.slice(2));
  return path.resolve(dir, p);
}
