import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseListeners, parseServed, servedTask, unservedWarnings } from '../../../src/tasks/ufw-served.js';

// `ss -Hlntup` as Debian 13's iproute2 prints it on a lab host (columns: Netid State Recv-Q
// Send-Q Local Peer Process), and `docker ps` Names<TAB>Ports lines.
const SSHD = 'tcp LISTEN 0      128       0.0.0.0:22    0.0.0.0:* users:(("sshd",pid=96,fd=6))';
const SSHD6 = 'tcp LISTEN 0      128          [::]:22       [::]:* users:(("sshd",pid=96,fd=7))';
const PROXY443 = 'tcp LISTEN 0 4096 0.0.0.0:443 0.0.0.0:* users:(("docker-proxy",pid=700,fd=7))';
const LOOP = 'tcp LISTEN 0 4096 127.0.0.1:20241 0.0.0.0:* users:(("cloudflared",pid=5,fd=3))';
const TAILNET = 'tcp LISTEN 0 4096 100.77.4.14:443 0.0.0.0:* users:(("caddy",pid=9,fd=3))';
const PUBLIC = 'tcp LISTEN 0 4096 10.77.0.14:443 0.0.0.0:* users:(("nginx",pid=9,fd=3))';
const WILD = 'tcp LISTEN 0 511 *:443 *:* users:(("nginx",pid=9,fd=3))';
const DNS = 'udp UNCONN 0 0 0.0.0.0%eth0:53 0.0.0.0:* users:(("dnsmasq",pid=4,fd=3))';
const probe = (ss: string[], docker: string[] = []) =>
  parseServed(['@@ss', ...ss, '@@docker', ...docker].join('\n'));
const RULES = [{ interface: 'tailscale0' }, { port: 443, proto: 'tcp' as const }];

describe('ufw:served: a port the firewall opens to everyone with nothing behind it', () => {
  it('parses ss lines: address without brackets or interface, port, protocol, process', () => {
    expect(parseListeners([SSHD, SSHD6, DNS, 'garbage', ''].join('\n'))).toEqual([
      { proto: 'tcp', address: '0.0.0.0', port: 22, process: 'sshd' },
      { proto: 'tcp', address: '::', port: 22, process: 'sshd' },
      { proto: 'udp', address: '0.0.0.0', port: 53, process: 'dnsmasq' },
    ]);
  });

  it.each([
    ['nothing listens on 443 (the repository inventory, a tunnel-only host)', [SSHD, SSHD6, LOOP], [], 1],
    [
      "only Dokploy's Traefik, which DOCKER-USER closes to the public side",
      [SSHD, PROXY443],
      ['dokploy-traefik\t0.0.0.0:443->443/tcp, 0.0.0.0:80->80/tcp'],
      1,
    ],
    ['only on the tailnet address', [TAILNET], [], 1],
    ['a process on the public address', [PUBLIC], [], 0],
    ['a process on every address (*)', [WILD], [], 0],
    ['a container published on every address, not firewalled', [PROXY443], ['web\t0.0.0.0:443->8443/tcp'], 0],
    ['a container published in a range covering 443', [], ['web\t0.0.0.0:440-450->440-450/tcp'], 0],
    ['a container published on loopback only', [], ['web\t127.0.0.1:443->443/tcp'], 1],
    ['udp 443 is not tcp 443', ['udp UNCONN 0 0 0.0.0.0:443 0.0.0.0:* users:(("quic",pid=1,fd=1))'], [], 1],
  ])('%s → %i warning(s)', (_why, ss, docker, n) => {
    const w = unservedWarnings('toucan', RULES, probe(ss as string[], docker as string[]));
    expect(w).toHaveLength(n as number);
    if (n)
      expect(w[0]).toBe(
        'warning: UFW allows 443/tcp from anywhere (firewall.allow) but nothing on toucan serves it publicly; a Cloudflare Tunnel needs no inbound port (docs/bootstrap.md)',
      );
  });

  it('a rule without proto is served when either protocol is; interface rules are not public ports', () => {
    const rules = [{ port: 53 }, { interface: 'tailscale0' }];
    expect(unservedWarnings('kiwi', rules, probe([DNS]))).toEqual([]);
    expect(unservedWarnings('kiwi', rules, probe([SSHD]))).toEqual([
      expect.stringContaining('UFW allows 53 from anywhere'),
    ]);
  });

  it('without ss on the host nothing is said (never a guess)', () => {
    expect(unservedWarnings('kiwi', RULES, parseServed('@@ss\nnone\n@@docker\n'))).toEqual([]);
  });

  it('a warning, never drift: check exits as before and apply has nothing to do', () => {
    const t = servedTask('toucan', RULES);
    const s = t.parse('@@ss\n@@docker\n');
    expect(t.diff(s)).toEqual([]);
    expect(t.warnings?.(s)).toHaveLength(1);
    expect(t.apply(s, [])).toEqual([]);
  });

  it('the probe under dash: ss output passes through; an ss that fails says none (no warning)', () => {
    const t = servedTask('toucan', RULES);
    const run = (ss: string) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'infra-ss-'));
      writeFileSync(path.join(dir, 'ss'), `#!/bin/sh\n${ss}\n`);
      chmodSync(path.join(dir, 'ss'), 0o755);
      const r = spawnSync('dash', ['-c', t.probe], {
        env: { PATH: `${dir}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      return t.parse(r.stdout);
    };
    expect(run(`echo '${PUBLIC}'`).listeners).toEqual([
      { proto: 'tcp', address: '10.77.0.14', port: 443, process: 'nginx' },
    ]);
    const failed = run('exit 1');
    expect(failed.listeners).toBeUndefined();
    expect(t.warnings?.(failed)).toEqual([]);
  });
});
