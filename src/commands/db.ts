import { InfraError } from '../errors.js';
import type { App } from '../inventory/types.js';
import { shCmd, shq } from '../quote.js';
import { passwordFile, pgPort, psqlArgv } from '../tasks/postgres-app.js';
import { asRoot, opensshFor, runOpenssh } from '../transport/openssh.js';
import { withApp } from './app-host.js';
import type { GlobalOptions } from './shared.js';

export interface Endpoints {
  /** From a container on the app's docker network (how a Dokploy app connects). */
  network: string;
  /** From the control server over the tailnet, or undefined before the host is on it. */
  tailnet?: string;
}

/** Pure: the URLs of an app's database; the password is URL-encoded, or *** when hidden. */
export function appUrls(
  app: App,
  appsOnHost: readonly string[],
  password: string | undefined,
  tailnetIp?: string,
): Endpoints {
  const pw = password === undefined ? '***' : encodeURIComponent(password);
  const port = pgPort(app.name, appsOnHost);
  return {
    network: `postgres://${app.name}:${pw}@${app.name}-postgres:5432/${app.name}`,
    tailnet: tailnetIp ? `postgres://${app.name}:${pw}@${tailnetIp}:${port}/${app.name}` : undefined,
  };
}

const TAILNET_IP = `ip -4 -o addr show dev tailscale0 2>/dev/null | awk '{split($4,a,"/"); print a[1]; exit}'`;

async function endpoints(
  g: GlobalOptions,
  name: string,
  show: boolean,
): Promise<{ urls: Endpoints; app: App }> {
  return withApp(g, name, async (s) => {
    const ip = (await s.run(TAILNET_IP, 'reading the tailnet address')).trim() || undefined;
    const pw = show
      ? (await s.run(`cat ${shq(passwordFile(name))}`, `reading the password of ${name}`)).trim()
      : undefined;
    const others = s.inv.apps.filter((a) => a.host === s.app.host).map((a) => a.name);
    return { urls: appUrls(s.app, others, pw, ip), app: s.app };
  });
}

/** The lines add-app prints after converging: how the app connects. */
export async function connectionLines(g: GlobalOptions, name: string): Promise<string[]> {
  const { urls, app } = await endpoints(g, name, false);
  return [
    `${name}: PostgreSQL ${app.postgres} on ${app.host}`,
    `  app containers (join the docker network "${name}"): ${urls.network}`,
    `  control server over the tailnet: ${urls.tailnet ?? '(none yet: the host is not on the tailnet)'}`,
    `  password: infra db url ${name} --show-password`,
  ];
}

export async function dbUrl(
  g: GlobalOptions,
  name: string,
  o: { showPassword?: boolean; tailnet?: boolean },
): Promise<number> {
  const { urls } = await endpoints(g, name, !!o.showPassword);
  const url = o.tailnet ? urls.tailnet : urls.network;
  if (!url)
    throw new InfraError(
      `${name}'s host is not on the tailnet yet`,
      'run: infra apply (Tailscale comes up first)',
    );
  // The redactor does not know this password: --show-password is the explicit ask to print it.
  const { Output } = await import('../report/output.js');
  const { Redactor } = await import('../secrets.js');
  new Output(new Redactor()).line(url);
  return 0;
}

/** With -c: one statement over the run's connection; without: an interactive psql over OpenSSH -t. */
export async function dbPsql(g: GlobalOptions, name: string, o: { command?: string }): Promise<number> {
  if (o.command !== undefined)
    return withApp(g, name, async (s) => {
      const out = await s.run(shCmd(psqlArgv(name, o.command)), `psql on ${name}`);
      s.out.line(out.replace(/\n$/, ''));
      return 0;
    });
  const { loadApps, findApp } = await import('./app-host.js');
  const inv = loadApps(g);
  const app = findApp(inv, name);
  const host = inv.hosts.find((h) => h.name === app.host)!;
  if (!process.stdin.isTTY)
    throw new InfraError('infra db psql needs a terminal', `for scripts: infra db psql ${name} -c 'SQL'`);
  // OpenSSH, not ssh2: psql needs a real TTY. Same path and host-key pins as `infra ssh`.
  return runOpenssh(await opensshFor(inv, host, { tty: true, remote: asRoot(host, shCmd(psqlArgv(name))) }));
}
