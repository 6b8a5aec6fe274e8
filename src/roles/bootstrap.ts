import type { AnyTask } from '../engine/task.js';
import { InfraError } from '../errors.js';
import type { Inventory, Tunnel } from '../inventory/types.js';
import { aptSourceTask, cloudflaredSource, dockerSource, tailscaleSource } from '../tasks/apt-source.js';
import { bootOrderTasks } from '../tasks/boot-order.js';
import { configTask, readyTask, tokenTask, unitTask } from '../tasks/cloudflared.js';
import { credentialsTask } from '../tasks/cloudflared-local.js';
import { daemonJsonTask, dockerPackagesTask, exposureTask } from '../tasks/docker.js';
import { DOKPLOY_PORTS } from '../tasks/dokploy-services.js';
import { packagesTask } from '../tasks/packages.js';
import { serviceTask } from '../tasks/service.js';
import { sshdTask } from '../tasks/sshd.js';
import { tailscaleSshTask, tailscaleTask } from '../tasks/tailscale.js';
import { ufwTask } from '../tasks/ufw.js';
import { ufwDockerTask } from '../tasks/ufw-docker.js';
import { servedTask } from '../tasks/ufw-served.js';

/**
 * What `infra bootstrap` adds to the base tasks: Tailscale, sshd, UFW, Docker, cloudflared.
 * The `after` chain is the safety argument: the tailnet is up (and its address learned) before
 * sshd and UFW change, so the lockout guard can prove the path that remains before public SSH
 * closes; a failed step skips everything after it and leaves public SSH as it was.
 */
export function bootstrapTasks(inv: Inventory, hostName: string): AnyTask[] {
  const host = inv.hosts.find((h) => h.name === hostName);
  if (!host) throw new InfraError(`no host named ${hostName} in ${inv.file}`);
  const base = ['packages:base'];
  const docker = inv.docker.source === 'docker';
  // Each `after` names the task values it waits for (their ids), not literal id strings.
  const tailscaleApt = aptSourceTask(tailscaleSource(inv.upstream.tailscale_apt), base);
  const tailscalePackages = packagesTask('packages:tailscale', ['tailscale'], [tailscaleApt.id]);
  const tailscaled = serviceTask('tailscaled.service', [tailscalePackages.id]);
  const tailscale = tailscaleTask(
    { hostname: host.name, ssh: inv.tailscale.ssh, authKey: inv.tailscale.authKey },
    [tailscaled.id],
  );
  const tailscaleSsh = tailscaleSshTask(inv.tailscale.ssh, [tailscale.id]);
  const sshd = sshdTask([tailscaleSsh.id]);
  const ufwPackages = packagesTask('packages:ufw', ['ufw'], base);
  const ufw = ufwTask(
    {
      incoming: inv.firewall.incoming as 'deny',
      outgoing: inv.firewall.outgoing as 'allow',
      allow: inv.firewall.allow,
    },
    [sshd.id, ufwPackages.id],
  );
  const ufwDocker = ufwDockerTask(
    host.publicPorts,
    [ufw.id],
    host.role === 'control' ? DOKPLOY_PORTS.filter((p) => !host.publicPorts.includes(p)) : [],
  );
  const daemonJson = daemonJsonTask(inv, [ufwDocker.id]);
  const dockerApt = docker ? aptSourceTask(dockerSource(inv.upstream.docker_apt), base) : undefined;
  const dockerPackages = dockerPackagesTask(inv.docker.source, [
    daemonJson.id,
    ...(dockerApt ? [dockerApt.id] : []),
  ]);
  const dockerService = serviceTask('docker.service', [dockerPackages.id]);
  const tunnel = host.tunnel && tunnelTasks(inv, host.tunnel, base, ufw.id);
  return [
    tailscaleApt,
    ...(dockerApt ? [dockerApt] : []),
    ...(tunnel ? [tunnel.source] : []),

    tailscalePackages,
    tailscaled,
    tailscale,
    tailscaleSsh,

    sshd,

    ufwPackages,
    ufw,

    // Before Docker is installed, so its very first boot is already ordered after the tailnet.
    ...bootOrderTasks(['docker.service', ...(host.tunnel ? ['cloudflared.service'] : [])], base),

    ufwDocker,
    daemonJson,
    dockerPackages,
    dockerService,
    exposureTask(host.name, host.publicPorts, [dockerService.id]),
    servedTask(host.name, inv.firewall.allow, [dockerService.id]),
    ...(tunnel?.rest ?? []),
  ];
}

/**
 * cloudflared after UFW: its apt source goes with the other sources, the rest last. Each `after`
 * names the task values it waits for (their ids), as above.
 */
function tunnelTasks(
  inv: Inventory,
  tunnel: Tunnel,
  base: string[],
  ufw: string,
): { source: AnyTask; rest: AnyTask[] } {
  const api = tunnel.kind === 'api';
  const local = tunnel.kind === 'local';
  const source = aptSourceTask(cloudflaredSource(inv.upstream.cloudflared_apt), base);
  const packages = packagesTask('packages:cloudflared', ['cloudflared'], [source.id, ufw]);
  // A locally managed tunnel runs from its credentials file; the others from a token.
  const secret = local
    ? credentialsTask(tunnel.credentials, tunnel.id!, [packages.id])
    : tokenTask(tunnel.token, [packages.id]);
  // Through the API, the routes are the tunnel's remote configuration (src/cloudflare/).
  const config = api
    ? undefined
    : configTask(tunnel.routes, [packages.id], local ? { id: tunnel.id! } : undefined);
  const unit = unitTask([secret.id, ...(config ? [config.id] : [])], !api, !local);
  const service = serviceTask('cloudflared.service', [unit.id]);
  return {
    source,
    rest: [packages, secret, ...(config ? [config] : []), unit, service, readyTask([service.id])],
  };
}
