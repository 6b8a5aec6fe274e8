import { describe, expect, it } from 'vitest';
import {
  DOCKER_CE,
  daemonJson,
  diffExposure,
  dockerPackagesFor,
  dockerPackagesTask,
  exposureTask,
  isPublicAddress,
  parsePublished,
} from '../../../src/tasks/docker.js';
import { parseOsRelease } from '../../../src/tasks/os-release.js';
import { dockerUserBlock, ufwDockerTask, withDockerBlock } from '../../../src/tasks/ufw-docker.js';

const os = (o: string, c: string) => parseOsRelease(`os=${o}\ncodename=${c}\n`);
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('docker packages', () => {
  it.each([
    ['docker', 'debian', 'bookworm', DOCKER_CE],
    ['docker', 'ubuntu', 'noble', DOCKER_CE],
    ['distro', 'debian', 'trixie', ['docker.io', 'docker-cli', 'docker-compose']],
    ['distro', 'ubuntu', 'jammy', ['docker.io', 'docker-compose-v2']],
  ] as const)('%s on %s %s', (source, o, c, pkgs) => {
    expect(dockerPackagesFor(source, os(o, c))).toEqual(pkgs);
  });
  it('refuses distro packages on Debian 12, which has only Compose v1', () => {
    expect(() => dockerPackagesFor('distro', os('debian', 'bookworm'))).toThrow(/docker.source: docker/);
  });
  it.each([
    ['fresh', '', ['install docker.io, docker-cli, docker-compose']],
    ['client missing', 'docker.io ii \ndocker-compose ii \n', ['install docker-cli']],
    ['converged', 'docker.io ii \ndocker-cli ii \ndocker-compose ii \n', []],
  ])('distro on trixie: %s', (_n, dpkg, summaries) => {
    const t = dockerPackagesTask({ source: 'distro' });
    const s = t.parse(`@@os\nos=debian\ncodename=trixie\narch=amd64\n@@dpkg\n${dpkg}`);
    expect(t.diff(s).map((c) => c.summary)).toEqual(summaries);
  });
});

describe('daemon.json', () => {
  const base = { docker: { source: 'distro' as const, log_max_size: '10m', log_max_file: 3 } };
  it('binds published ports to loopback by default and rotates logs', () => {
    const doc = JSON.parse(daemonJson({ ...base, upstream: {} as never }));
    expect(doc).toEqual({
      ip: '127.0.0.1',
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
    });
  });
  it('trusts an HTTP registry mirror (the lab), not an HTTPS one', () => {
    const lab = JSON.parse(
      daemonJson({ ...base, upstream: { registry_mirror: 'http://10.77.0.2:5000' } as never }),
    );
    expect(lab['registry-mirrors']).toEqual(['http://10.77.0.2:5000']);
    expect(lab['insecure-registries']).toEqual(['10.77.0.2:5000']);
    const tls = JSON.parse(
      daemonJson({ ...base, upstream: { registry_mirror: 'https://mirror.example' } as never }),
    );
    expect(tls['insecure-registries']).toBeUndefined();
  });
});

describe('exposure audit', () => {
  const ps = [
    'web\t0.0.0.0:8080->80/tcp, :::8080->80/tcp',
    'db\t127.0.0.1:5432->5432/tcp',
    'pg\t100.77.0.11:55432->5432/tcp',
    'quiet\t80/tcp',
    'range\t0.0.0.0:9000-9001->9000-9001/udp',
    'none\t',
  ].join('\n');
  it('reads published ports, ranges and all', () => {
    expect(
      parsePublished(ps).map((p) => `${p.container} ${p.address} ${p.ports.join('-')}/${p.proto}`),
    ).toEqual([
      'web 0.0.0.0 8080-8080/tcp',
      'web :: 8080-8080/tcp',
      'db 127.0.0.1 5432-5432/tcp',
      'pg 100.77.0.11 55432-55432/tcp',
      'range 0.0.0.0 9000-9001/udp',
    ]);
  });
  it.each([
    ['0.0.0.0', true],
    ['::', true],
    ['[::]', true],
    ['203.0.113.5', true],
    ['127.0.0.1', false],
    ['::1', false],
    ['100.77.0.11', false],
    ['100.128.0.1', true],
    ['fd7a:115c:a1e0::1', false],
  ])('%s public: %s', (a, pub) => {
    expect(isPublicAddress(a)).toBe(pub);
  });
  it.each([
    [[], ['port-public', 'port-public', 'port-public']],
    [[8080], ['port-public']],
    [[8080, 9000], ['port-public']],
    [[8080, 9000, 9001], []],
  ])('public_ports %j', (allowed, kinds) => {
    expect(diffExposure(parsePublished(ps), allowed).map((c) => c.kind)).toEqual(kinds);
  });
  it('no docker yet: nothing to audit; apply fails with the fix rather than stopping containers', () => {
    const t = exposureTask('toucan', []);
    expect(t.diff(t.parse(''))).toEqual([]);
    const changes = t.diff(t.parse('web\t0.0.0.0:8080->80/tcp'));
    expect(changes[0]!.summary).toBe(
      'container web publishes 8080/tcp on 0.0.0.0, a public address (not in public_ports)',
    );
    expect(t.apply([], changes)[0]!.script).toMatch(/hosts\.toucan\.public_ports.*exit 1$/);
  });
});

describe('DOCKER-USER rules in after.rules', () => {
  const stock = '*filter\n:ufw-after-input - [0:0]\nCOMMIT\n';
  it('appends the block once, and replaces it in place when public ports change', () => {
    const once = withDockerBlock(stock, dockerUserBlock([]));
    expect(once.startsWith(stock)).toBe(true);
    expect(withDockerBlock(once, dockerUserBlock([]))).toBe(once);
    const twice = withDockerBlock(once, dockerUserBlock([443]));
    expect(twice.match(/# BEGIN UFW AND DOCKER/g)).toHaveLength(1);
    expect(twice).toContain(
      '-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 443 --ctdir ORIGINAL -j RETURN',
    );
  });
  it('lets the tailnet reach containers, drops new public traffic to private ranges', () => {
    const block = dockerUserBlock([]);
    expect(block).toContain('-A DOCKER-USER -i tailscale0 -j RETURN');
    expect(block).toContain(
      '-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 172.16.0.0/12',
    );
  });
  it.each([
    ['stock file', stock, ['file-content']],
    ['converged', withDockerBlock(stock, dockerUserBlock([])), []],
    ['block edited by hand', withDockerBlock(stock, dockerUserBlock([8443])), ['file-content']],
  ])('%s', (_n, content, kinds) => {
    const t = ufwDockerTask({ publicPorts: [] });
    expect(t.diff(t.parse(`640 root root\n${b64(content)}\n`)).map((c) => c.kind)).toEqual(kinds);
  });
  it('rollback writes the probed file back and reloads a running firewall', () => {
    const t = ufwDockerTask({ publicPorts: [] });
    const r = t.rollback!(t.parse(`640 root root\n${b64(stock)}\n`));
    expect(r).toContain(b64(stock));
    expect(r).toContain('ufw reload');
  });
});
