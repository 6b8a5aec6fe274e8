import type { AnyTask } from '../engine/task.js';
import { InfraError } from '../errors.js';
import type { Inventory } from '../inventory/types.js';
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
  const tasks: AnyTask[] = [
    aptSourceTask(tailscaleSource(inv.upstream.tailscale_apt), base),
    ...(docker ? [aptSourceTask(dockerSource(inv.upstream.docker_apt), base)] : []),
    ...(host.tunnel ? [aptSourceTask(cloudflaredSource(inv.upstream.cloudflared_apt), base)] : []),

    packagesTask('packages:tailscale', ['tailscale'], ['apt-source:tailscale']),
    serviceTask('tailscaled.service', ['packages:tailscale']),
    tailscaleTask({ hostname: host.name, ssh: inv.tailscale.ssh, authKey: inv.tailscale.authKey }, [
      'service:tailscaled.service',
    ]),
    tailscaleSshTask(inv.tailscale.ssh, ['tailscale']),

    sshdTask(['tailscale:ssh']),

    packagesTask('packages:ufw', ['ufw'], base),
    ufwTask(
      {
        incoming: inv.firewall.incoming as 'deny',
        outgoing: inv.firewall.outgoing as 'allow',
        allow: inv.firewall.allow,
      },
      ['sshd', 'packages:ufw'],
    ),

    // Before Docker is installed, so its very first boot is already ordered after the tailnet.
    ...bootOrderTasks(['docker.service', ...(host.tunnel ? ['cloudflared.service'] : [])], base),

    ufwDockerTask(
      host.publicPorts,
      ['ufw'],
      host.role === 'control' ? DOKPLOY_PORTS.filter((p) => !host.publicPorts.includes(p)) : [],
    ),
    daemonJsonTask(inv, ['ufw:docker']),
    dockerPackagesTask(inv.docker.source, [
      'file:/etc/docker/daemon.json',
      ...(docker ? ['apt-source:docker'] : []),
    ]),
    serviceTask('docker.service', ['packages:docker']),
    exposureTask(host.name, host.publicPorts, ['service:docker.service']),
  ];
  if (host.tunnel) {
    const cf = ['ufw'];
    const api = host.tunnel.kind === 'api';
    const local = host.tunnel.kind === 'local';
    tasks.push(
      packagesTask('packages:cloudflared', ['cloudflared'], ['apt-source:cloudflared', ...cf]),
      // A locally managed tunnel runs from its credentials file; the others from a token.
      local
        ? credentialsTask(host.tunnel.credentials, host.tunnel.id!, ['packages:cloudflared'])
        : tokenTask(host.tunnel.token, ['packages:cloudflared']),
      // Through the API, the routes are the tunnel's remote configuration (src/cloudflare/).
      ...(api
        ? []
        : [
            configTask(
              host.tunnel.routes,
              ['packages:cloudflared'],
              local ? { id: host.tunnel.id! } : undefined,
            ),
          ]),
      unitTask(
        [
          local ? 'cloudflared:credentials' : 'cloudflared:token',
          ...(api ? [] : ['file:/etc/cloudflared/config.yml']),
        ],
        !api,
        !local,
      ),
      serviceTask('cloudflared.service', ['file:/etc/systemd/system/cloudflared.service']),
      readyTask(['service:cloudflared.service']),
    );
  }
  return tasks;
}
