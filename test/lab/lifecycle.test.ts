import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/index.js';
import { labReset, labStartHost, labStatus, labStopHost } from '../../src/lab/index.js';
import { bringUpScratch, LAB_DIR, LAB_TIMEOUT, SCRATCH, ssh } from './helpers.js';

/** iptables rules of THIS machine, without packet counters and timestamps. */
async function outerRules(): Promise<string> {
  const dump = async (cmd: string) => (await execa(cmd, [], { reject: false })).stdout;
  const all = `${await dump('iptables-save')}\n${await dump('ip6tables-save')}`;
  return all
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
}

describe('lab lifecycle', () => {
  let lab: LabState;
  beforeAll(async () => {
    lab = await bringUpScratch();
  }, LAB_TIMEOUT);

  it('keeps existing hosts on a second labUp (idempotent, fast)', async () => {
    const t0 = Date.now();
    const again = await bringUpScratch();
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(again.hosts.map((h) => [h.name, h.publicAddress])).toEqual(
      lab.hosts.map((h) => [h.name, h.publicAddress]),
    );
  });

  it('UFW enabled inside a host leaves this machine iptables untouched', async () => {
    const before = await outerRules();
    const h = lab.hosts.find((x) => x.name === SCRATCH)!;
    const r = await ssh(
      lab,
      h.publicAddress,
      'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq ufw >/dev/null && ' +
        'ufw default deny incoming && ufw allow in on tailscale0 && ufw allow 22/tcp && ufw --force enable && ufw status verbose',
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Status: active');
    expect(await outerRules()).toEqual(before);
    // The host's own netfilter really has the rules.
    const inner = await ssh(lab, h.publicAddress, 'iptables -S ufw-user-input');
    expect(inner.stdout).toContain('-i tailscale0');
  }, 300_000);

  it('a stopped host is unreachable, and back (tailnet still parked) once started', async () => {
    const h = lab.hosts.find((x) => x.name === SCRATCH)!;
    await labStopHost(LAB_DIR, SCRATCH);
    expect((await labStatus(LAB_DIR))!.hosts.find((x) => x.name === SCRATCH)!.state).toBe('stopped');
    const down = await ssh(lab, h.publicAddress, 'true', undefined, 2);
    expect(down.exitCode).not.toBe(0);
    await labStartHost(LAB_DIR, SCRATCH);
    const up = await ssh(lab, h.publicAddress, 'ip -o link show');
    expect(up.exitCode).toBe(0);
    expect(up.stdout).not.toContain('tailscale0');
    expect(up.stdout).toMatch(/tsparked0.*state DOWN/);
    // Parked means unusable: the address is off the interface until tailscale gives it back.
    const addr = await ssh(
      lab,
      h.publicAddress,
      `ip -o -4 addr show | grep -c ' ${h.tailnetAddress}/' || true`,
    );
    expect(addr.stdout.trim()).toBe('0');
  }, 120_000);

  it('reset returns a host to fresh with new host keys, pinned again', async () => {
    const h = lab.hosts.find((x) => x.name === SCRATCH)!;
    await ssh(lab, h.publicAddress, 'touch /root/dirty');
    const keysBefore = readFileSync(lab.knownHostsFile, 'utf8');
    const fresh = await labReset(LAB_DIR, SCRATCH, () => {});
    expect(['running', 'degraded']).toContain(fresh.state);
    expect(fresh.publicAddress).toBe(h.publicAddress);
    const keysAfter = readFileSync(lab.knownHostsFile, 'utf8');
    expect(keysAfter).not.toEqual(keysBefore);
    const r = await ssh(lab, h.publicAddress, 'test -e /root/dirty; echo $?');
    expect(r.stdout.trim()).toBe('1');
  }, 120_000);
});
