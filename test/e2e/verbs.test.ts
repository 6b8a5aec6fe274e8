import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labHost } from './bootstrap-helpers.js';
import { ensureLab, infra, onHost, resetInventory } from './harness.js';

/**
 * The everyday verbs on the lab (issue 14): status, ssh, run, logs. Reuses the suite's lab,
 * converged with the repository inventory (its apps, beanstock among them, on hornbill): on a
 * lab the earlier files converged, the two bootstraps are no-op checks.
 */
const lab = (...args: string[]) => infra(['--lab', ...args]);

describe('everyday verbs on the lab', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    for (const host of ['toucan', 'hornbill']) {
      const r = await lab('bootstrap', host);
      expect(r.code, r.all).toBe(0);
    }
  });
  afterAll(() => onHost('hornbill', 'rm -f /var/run/reboot-required /var/run/reboot-required.pkgs'));

  it('status: a pending reboot and a disk warning, in one round trip; cleared when the flag goes', async () => {
    await onHost('hornbill', 'echo libc6 > /var/run/reboot-required.pkgs; touch /var/run/reboot-required');
    const r = await lab('status', 'hornbill', '--json', '--disk-warn', '1');
    expect(r.code, r.all).toBe(2);
    const doc = JSON.parse(r.stdout);
    const h = doc.hosts[0];
    expect(doc).toMatchObject({ version: 1, mode: 'status', diskWarnPercent: 1 });
    expect(h).toMatchObject({
      name: 'hornbill',
      role: 'apps',
      status: 'warn',
      stats: { connections: 1, execs: 1 },
    });
    expect(h.facts).toMatchObject({
      rebootRequired: true,
      rebootPackages: ['libc6'],
      os: expect.stringMatching(/Debian/),
    });
    expect(h.addresses.tailnet).toBe(labHost('hornbill').tailnetAddress);
    expect(h.via).toMatch(/^tailnet /);
    expect(h.disks.map((d: { path: string }) => d.path)).toEqual(
      expect.arrayContaining(['/', '/var/lib/docker', '/var/backups/infra']),
    );
    expect(h.disks.every((d: { warn: boolean }) => d.warn)).toBe(true);
    expect(h.warnings).toContain('reboot required (libc6)');
    expect(h.warnings.some((w: string) => /^disk \/ \d+% used/.test(w))).toBe(true);
    const beanstock = h.apps.find((a: { name: string }) => a.name === 'beanstock');
    expect(beanstock.postgres.version).toMatch(/^18\./);
    expect(beanstock.databaseBytes).toBeGreaterThan(0);
    expect(h.stacks.map((s: { name: string }) => s.name)).toContain('alloy');
    expect(h.stacks.every((s: { healthy: boolean }) => s.healthy)).toBe(true);

    const human = await lab('status', 'hornbill', '--disk-warn', '1');
    expect(human.stdout).toMatch(/reboot +REQUIRED by libc6/);
    expect(human.stdout).toMatch(/disk +\/ +\d+% of .*WARN ≥ 1%/);

    await onHost('hornbill', 'rm -f /var/run/reboot-required /var/run/reboot-required.pkgs');
    const after = JSON.parse((await lab('status', 'hornbill', '--json', '--disk-warn', '100')).stdout);
    expect(after.hosts[0].facts.rebootRequired).toBe(false);
    expect(after.hosts[0].disks.some((d: { warn: boolean }) => d.warn)).toBe(false);
  });

  it('status of both hosts: the control stacks healthy, every host read once', async () => {
    const doc = JSON.parse((await lab('status', '--json')).stdout);
    expect(doc.hosts.map((h: { name: string }) => h.name)).toEqual(['toucan', 'hornbill']);
    for (const h of doc.hosts) expect(h.stats).toEqual({ connections: 1, execs: 1 });
    const toucan = doc.hosts[0];
    expect(toucan.stacks.map((s: { name: string }) => s.name).sort()).toEqual([
      'alloy',
      'dokploy',
      'glitchtip',
      'observability',
    ]);
    expect(toucan.stacks.filter((s: { healthy: boolean }) => !s.healthy)).toEqual([]);
  });

  it('ssh HOST -- hostname: the host answers over the tailnet, with the pinned key', async () => {
    const r = await lab('ssh', 'hornbill', '--', 'hostname');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout.trim()).toBe('hornbill');
    // SSH_CONNECTION: client address, client port, server address, server port.
    const via = await lab('ssh', 'hornbill', '--', 'echo $SSH_CONNECTION');
    expect(via.stdout.trim().split(' ')[2]).toBe(labHost('hornbill').tailnetAddress);
  });

  it("run role:apps: the operator's shell syntax reaches each host intact; a failure is exit 1", async () => {
    const r = await lab('run', 'role:apps', '--', 'echo "$((1+1))"');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/^── hornbill \(exit 0, [\d.]+s\)\n2$/);
    const quoted = await lab('run', 'all', '--', `printf '%s|' "it's" '$HOME' | wc -c; exit 3`);
    expect(quoted.code).toBe(1);
    for (const host of ['toucan', 'hornbill'])
      expect(quoted.stdout).toMatch(new RegExp(`── ${host} \\(exit 3, [^)]*\\)\\n11(\\n|$)`));
  });

  it("logs beanstock: PostgreSQL's start-up lines, from Docker on hornbill", async () => {
    const r = await lab('logs', 'beanstock');
    expect(r.code, r.all).toBe(0);
    expect(r.all).toMatch(/database system is ready to accept connections/);
    const svc = await lab('logs', 'glitchtip/web', '-n', '5', '--since', '24h');
    expect(svc.code, svc.all).toBe(0);
    const bad = await lab('logs', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/"nope" is neither an app/);
  });
});
