import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabState } from '../../src/lab/index.js';
import { labDown, labStatus, labUp } from '../../src/lab/index.js';
import { bringUpLab, LAB_DIR, LAB_TIMEOUT, ssh } from './helpers.js';

/**
 * Two labs for two inventories at once (issue 13): a rehearsal lab with a host of the same name
 * as the suite's coexists with it, has its own tailnet, and its `lab down` leaves the suite's lab
 * running.
 */
const quiet = () => {};
describe('labs side by side', () => {
  let suite: LabState;
  let other: LabState;
  const otherDir = join(mkdtempSync(join(tmpdir(), 'infra-lab-other-')), '.infra', 'lab');

  beforeAll(async () => {
    suite = await bringUpLab();
    other = await labUp([{ name: 'toucan', role: 'control' }], otherDir, quiet);
  }, LAB_TIMEOUT);

  afterAll(async () => {
    await labDown(otherDir, { images: false }, quiet);
    rmSync(join(otherDir, '..', '..'), { recursive: true, force: true });
  }, LAB_TIMEOUT);

  it('gives a same-named host its own container, public address and tailnet', async () => {
    const a = suite.hosts.find((h) => h.name === 'toucan')!;
    const b = other.hosts.find((h) => h.name === 'toucan')!;
    expect(b.container).not.toBe(a.container);
    expect(b.publicAddress).not.toBe(a.publicAddress);
    expect(other.slot).not.toBe(suite.slot);
    expect(b.tailnetAddress.split('.').slice(0, 3)).not.toEqual(a.tailnetAddress.split('.').slice(0, 3));
    // Each answers SSH as itself, with its own lab's key and pinned host keys.
    const ra = await ssh(suite, a.publicAddress, 'hostname');
    const rb = await ssh(other, b.publicAddress, 'hostname');
    expect([ra.stdout.trim(), rb.stdout.trim()]).toEqual(['toucan', 'toucan']);
    // The other lab's key opens nothing in the suite's lab.
    const cross = await ssh({ ...other, knownHostsFile: suite.knownHostsFile }, a.publicAddress, 'true');
    expect(cross.exitCode).not.toBe(0);
  });

  it("lab down of one lab removes only that lab's objects", async () => {
    const net = `infra-lab-tailnet-${other.slot}`;
    await labDown(otherDir, { images: false }, quiet);
    const gone = await execa('docker', ['inspect', other.hosts[0]!.container], { reject: false });
    expect(gone.exitCode).not.toBe(0);
    expect((await execa('docker', ['network', 'inspect', net], { reject: false })).exitCode).not.toBe(0);
    const still = await labStatus(LAB_DIR);
    for (const h of still!.hosts.filter((x) => suite.hosts.some((s) => s.name === x.name)))
      expect(['running', 'degraded'], h.name).toContain(h.state);
    const shared = await execa('docker', ['network', 'inspect', 'infra-lab-public'], { reject: false });
    expect(shared.exitCode).toBe(0);
  }, 120_000);
});
