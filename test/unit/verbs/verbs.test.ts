import { describe, expect, it } from 'vitest';
import { checkSince, logsScript, resolveLogTarget } from '../../../src/commands/logs.js';
import { resolveTarget } from '../../../src/commands/run.js';
import type { Host, Inventory } from '../../../src/inventory/types.js';
import { asRoot, opensshArgv, pickPath, pinnedAs } from '../../../src/transport/openssh.js';

const host = (name: string, role: 'apps' | 'control', over: Partial<Host> = {}): Host => ({
  name,
  role,
  address: `10.0.0.${name.length}`,
  ssh: { user: 'root', port: 22, key: '/k/id' },
  timezone: 'Etc/UTC',
  packages: [],
  publicPorts: [],
  ...over,
});
const inv = {
  file: 'inventory.yaml',
  knownHostsFile: '/inv/known_hosts',
  hosts: [host('toucan', 'control'), host('hornbill', 'apps'), host('kite', 'apps')],
  apps: [
    { name: 'beanstock', host: 'hornbill', postgres: 18, backupRetentionDays: 14, controlRetentionDays: 60 },
  ],
} as unknown as Inventory;

describe('run: targets', () => {
  it.each([
    ['all', ['toucan', 'hornbill', 'kite']],
    ['role:apps', ['hornbill', 'kite']],
    ['kite,toucan', ['toucan', 'kite']],
    ['role:control,toucan', ['toucan']],
  ])('%s', (target, hosts) => expect(resolveTarget(inv, target)).toEqual(hosts));

  it.each([
    ['nope', /"nope" is not a host, role:ROLE or all \(hosts: toucan, hornbill, kite\)/],
    ['role:db', /no host has role "db" .*\(roles: control, apps\)/],
  ])('%s is refused in one line', (target, msg) => expect(() => resolveTarget(inv, target)).toThrow(msg));
});

describe('ssh: the OpenSSH command line', () => {
  it('pinned known_hosts looked up under the inventory name, the key, port and user', () => {
    const h = host('hornbill', 'apps', { ssh: { user: 'deploy', port: 2222, key: '/k/id' } });
    expect(opensshArgv(inv, h, '100.77.0.11', { tty: false, remote: 'hostname', alias: 'hornbill' })).toEqual(
      [
        ...['-o', 'UserKnownHostsFile=/inv/known_hosts', '-o', 'StrictHostKeyChecking=yes'],
        ...['-o', 'HostKeyAlias=hornbill', '-o', 'ConnectTimeout=10', '-p', '2222'],
        ...['-i', '/k/id', '-o', 'IdentitiesOnly=yes', '-l', 'deploy', '--', '100.77.0.11', 'hostname'],
      ],
    );
    const agent = host('kite', 'apps', { ssh: { user: 'root', port: 22 } });
    const argv = opensshArgv(inv, agent, '10.0.0.4', { tty: true });
    expect(argv[0]).toBe('-t');
    expect(argv).not.toContain('-i');
    expect(argv.some((a) => a.startsWith('HostKeyAlias='))).toBe(false);
    expect(argv.at(-1)).toBe('10.0.0.4');
  });

  it('root runs the script in sh; others through sudo -n', () => {
    expect(asRoot(host('a', 'apps'), "echo 'x'")).toBe(`sh -c 'echo '\\''x'\\'''`);
    expect(asRoot(host('a', 'apps', { ssh: { user: 'ops', port: 22 } }), 'id')).toBe('sudo -n sh -c id');
  });

  it('the key is looked up under the address when it is pinned, else under the inventory name', () => {
    const h = host('hornbill', 'apps', { ssh: { user: 'root', port: 2222 } });
    const entry = (patterns: string[]) => ({ patterns, type: 'ssh-ed25519', key: 'AAAA' });
    expect(pinnedAs([entry(['[100.77.0.11]:2222'])], inv, h, '100.77.0.11')).toBeUndefined();
    expect(pinnedAs([entry(['hornbill', '[10.77.0.11]:2222'])], inv, h, '100.77.0.11')).toBe('hornbill');
    expect(() => pinnedAs([entry(['toucan', '100.77.0.11'])], inv, h, '100.77.0.11')).toThrow(
      /no pinned host key for hornbill \(100.77.0.11\) in \/inv\/known_hosts yet/,
    );
  });

  it('the tailnet when it answers, else the public address', () => {
    const paths = [
      { kind: 'tailnet' as const, address: '100.77.0.11' },
      { kind: 'public' as const, address: '10.77.0.11' },
    ];
    expect(pickPath(paths, [true, true]).kind).toBe('tailnet');
    expect(pickPath(paths, [false, true]).kind).toBe('public');
    expect(pickPath(paths, [false, false]).kind).toBe('public');
  });
});

describe('logs', () => {
  const stacks = (h: string) => (h === 'toucan' ? ['glitchtip', 'alloy'] : ['alloy']);
  it('an app is its PostgreSQL on its host; STACK/SERVICE on the hosts running the stack', () => {
    expect(resolveLogTarget(inv, 'beanstock', stacks)).toEqual({
      source: { project: 'beanstock', service: 'db' },
      hosts: ['hornbill'],
    });
    expect(resolveLogTarget(inv, 'glitchtip/web', stacks).hosts).toEqual(['toucan']);
    expect(resolveLogTarget(inv, 'alloy/alloy', stacks).hosts).toEqual(['toucan', 'hornbill', 'kite']);
  });
  it.each([
    ['nope', /"nope" is neither an app \(apps: beanstock\) nor STACK\/SERVICE/],
    ['grafana/web', /no host runs a stack "grafana" \(stacks: glitchtip, alloy\)/],
    ['glitchtip/Web;x', /expected STACK\/SERVICE/],
  ])('%s is refused', (t, msg) => expect(() => resolveLogTarget(inv, t, stacks)).toThrow(msg));

  it.each(['10m', '1h30m', '90s', '2026-01-02', '2026-01-02T15:04:05Z', '2026-01-02T15:04', '1767225600'])(
    '--since %s is what docker accepts',
    (v) => expect(checkSince(v)).toBe(v),
  );
  it.each(['3d', 'yesterday', '1h;rm', ''])('--since %j is refused', (v) =>
    expect(() => checkSince(v)).toThrow(/--since/),
  );

  it('the newest container of the compose service, docker logs with the flags', () => {
    const s = logsScript({ project: 'glitchtip', service: 'web' }, { follow: true, since: '1h', tail: '20' });
    expect(s).toContain(
      'docker ps -aq --filter label=com.docker.compose.project=glitchtip --filter label=com.docker.compose.service=web | head -n1',
    );
    expect(s).toContain('exec docker logs --since 1h --tail 20 --follow "$id"');
    expect(logsScript({ project: 'beanstock', service: 'db' }, {})).toContain('exec docker logs "$id"');
  });
});
