import { beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/index.js';
import { bringUpLab, LAB_TIMEOUT, ssh } from './helpers.js';

describe('lab hosts', () => {
  let lab: LabState;
  beforeAll(async () => {
    lab = await bringUpLab();
  }, LAB_TIMEOUT);

  it('brings every host to systemd running (or degraded)', () => {
    expect(lab.hosts.map((h) => h.name).sort()).toEqual(['hornbill', 'toucan']);
    for (const h of lab.hosts) expect(['running', 'degraded']).toContain(h.state);
  });

  it('answers SSH on the public address with the lab key and pinned host keys', async () => {
    for (const h of lab.hosts) {
      const t0 = Date.now();
      const r = await ssh(lab, h.publicAddress, 'hostname && systemctl is-system-running');
      expect(r.stderr).toBe('');
      expect(r.exitCode === 0 || r.stdout.includes('degraded')).toBe(true);
      expect(r.stdout.split('\n')[0]).toBe(h.name);
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });
});
