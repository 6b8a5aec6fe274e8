import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { changedCount, ensureLab, INVENTORY, infra, onHost, resetInventory, WORK } from './harness.js';

/**
 * The foundation on real hosts (lab containers: Debian 13, systemd, sshd): apply converges and a
 * second apply changes nothing over one SSH connection per host; the host lock and host-key
 * pinning hold. Real: sshd, apt, systemd, the hosts' files. Stand-ins: whatever the role's
 * tasks install from the lab's apt repository (see docs/lab.md).
 */
describe('engine and transport on real sshd hosts', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
  });

  it('apply converges both hosts; the second run changes nothing, one connection per host', async () => {
    const first = await infra(['--lab', 'apply', '--json']);
    expect(first.code, first.all).toBe(0);
    const second = await infra(['--lab', 'apply', '--json']);
    expect(second.code, second.all).toBe(0);
    expect(changedCount(second.stdout)).toBe(0);
    const doc = JSON.parse(second.stdout) as {
      hosts: { name: string; stats: { connections: number; execs: number } }[];
    };
    for (const h of doc.hosts) {
      expect(h.stats.connections, h.name).toBe(1);
      expect(h.stats.execs, h.name).toBe(2); // the lock + one batched probe
    }
  });

  it('a second concurrent run waits a few seconds, then fails naming who holds the lock', async () => {
    await onHost(
      'hornbill',
      "mkdir -p /run/lock; echo 'alice@laptop pid 42 (infra apply)' > /run/lock/infra.lock.owner; (flock /run/lock/infra.lock sleep 20 &) ; sleep 0.3",
    );
    const t0 = Date.now();
    const r = await infra(['--lab', 'apply', 'hornbill']);
    expect(r.code).toBe(1);
    expect(r.all).toContain(
      'hornbill is locked by another infra run: alice@laptop pid 42 (infra apply) (waited 5s)',
    );
    expect(Date.now() - t0).toBeGreaterThan(4500);
    await onHost('hornbill', 'pkill -f "sleep 20"; true');
  });

  it('a changed host key is a hard error that says how to accept it deliberately', async () => {
    const knownHosts = path.join(WORK, '.infra/lab/known_hosts');
    const saved = readFileSync(knownHosts, 'utf8');
    const other = 'AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    try {
      writeFileSync(knownHosts, `hornbill ssh-ed25519 ${other}\n`);
      const r = await infra(['--lab', 'check', 'hornbill']);
      expect(r.code).toBe(1);
      expect(r.all).toMatch(/host key of hornbill .* changed: pinned SHA256:\S+, offered SHA256:\S+/);
      expect(r.all).toContain('ssh-keygen -R hornbill');
    } finally {
      writeFileSync(knownHosts, saved);
    }
  });

  it('an invalid inventory runs nothing and names file, line and key', async () => {
    const text = readFileSync(INVENTORY, 'utf8');
    try {
      writeFileSync(INVENTORY, text.replace('role: apps', 'role: app'));
      const r = await infra(['--lab', 'apply']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /inventory\.yaml:\d+:\d+ {2}hosts\.hornbill\.role: expected one of control, apps/,
      );
    } finally {
      writeFileSync(INVENTORY, text);
    }
  });
});
