import type { Facts, Task } from '../engine/task.js';
import { type DesiredServer, parseRemote, type RemoteState, remoteProbe } from './dokploy-remote-state.js';
import { diffServers, loginFailed, orphanServers, serversScript, unreachable } from './dokploy-servers.js';
import { createSshKeyScript, diffSshKey } from './dokploy-ssh-key.js';

/**
 * The apps hosts as Dokploy "remote servers" (docs/stacks.md, "Apps hosts in Dokploy"): what is read
 * (dokploy-remote-state.ts), infra's SSH key (dokploy-ssh-key.ts) and the servers
 * (dokploy-servers.ts); here the four tasks over their one probe.
 */
export interface RemoteOptions {
  dir: string;
  want: DesiredServer[];
  /** Every apps host of the inventory (registered or not yet): the others are orphans. */
  appsHosts: string[];
  after: string[];
}

/** The SSH key, the servers, the orphans and the login check: four tasks over one probe. */
export function remoteTasks(o: RemoteOptions): Task<RemoteState>[] {
  const probe = remoteProbe(
    o.dir,
    o.want.map((w) => w.name),
  );
  const common = { probe, parse: parseRemote };
  const key: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:ssh-key',
    after: o.after,
    diff: diffSshKey,
    apply: () => [{ script: createSshKeyScript(o.dir), timeoutMs: 60_000 }],
    learn: (st): Facts => (st.key ? { dokployPublicKey: st.key.publicKey.trim() } : {}),
  };
  const servers: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:servers',
    after: [key.id],
    diff: (st) => diffServers(st, o.want),
    apply: (st, changes) => [{ script: serversScript(o.dir, st, changes), timeoutMs: 60_000 }],
  };
  const orphans: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:orphans',
    after: [key.id],
    diff: (st) =>
      orphanServers(st, o.appsHosts).map((n) => ({
        summary: `Dokploy server ${n} was registered by infra, but host ${n} is no longer in the inventory (infra never deregisters)`,
        kind: 'server-orphan',
        actual: n,
      })),
    apply: () => [],
    wait: (st) => {
      const names = orphanServers(st, o.appsHosts);
      return names.length
        ? {
            on: 'the operator',
            run: `remove ${names.join(', ')} in Dokploy (Servers), or put it back in the inventory`,
          }
        : undefined;
    },
  };
  const reach: Task<RemoteState> = {
    ...common,
    id: 'stack:dokploy:reach',
    after: [servers.id],
    diff: (st) => unreachable(st, o.want),
    apply: () => [],
    // Dokploy's login needs the deploy user and key on the apps host: that host's run makes them.
    wait: (st) => {
      const bad = o.want.filter((w) => loginFailed(st, w.name)).map((w) => w.name);
      return bad.length ? { on: bad.join(', '), run: `infra apply ${bad.join(' ')}` } : undefined;
    },
  };
  return [key, servers, orphans, reach];
}
