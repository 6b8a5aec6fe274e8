import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabHost, LabState } from '../../src/lab/index.js';
import { bringUpLab, LAB_HOSTS, LAB_TIMEOUT, ssh } from './helpers.js';

/**
 * A host that infra has already hardened (UFW active: SSH only over the tailnet, by design)
 * is reached over the tailnet; a fresh one over its public address, like a new VPS.
 */
async function sshAddress(h: LabHost): Promise<string> {
  const ufw = await execa('docker', ['exec', h.container, 'sh', '-c', 'ufw status 2>/dev/null'], {
    reject: false,
  });
  return ufw.stdout.includes('Status: active') ? h.tailnetAddress : h.publicAddress;
}

describe('lab hosts', () => {
  let lab: LabState;
  beforeAll(async () => {
    lab = await bringUpLab();
  }, LAB_TIMEOUT);

  it('brings every host to systemd running (or degraded)', () => {
    const names = lab.hosts.map((h) => h.name);
    for (const want of LAB_HOSTS) expect(names).toContain(want.name);
    for (const h of lab.hosts) expect(['running', 'degraded']).toContain(h.state);
  });

  it('answers SSH with the lab key and pinned host keys', async () => {
    for (const h of lab.hosts) {
      const t0 = Date.now();
      const r = await ssh(lab, await sshAddress(h), 'hostname && systemctl is-system-running');
      expect(r.stderr).toBe('');
      expect(r.exitCode === 0 || r.stdout.includes('degraded')).toBe(true);
      expect(r.stdout.split('\n')[0]).toBe(h.name);
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });
});
