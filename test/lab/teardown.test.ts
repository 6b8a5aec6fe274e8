import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { labDown, labStatus } from '../../src/lab/index.js';
import { LAB_DIR } from './helpers.js';

/** Runs last (see vitest.config.ts): every suite before it shares the lab this removes. */
const labelled = async (kind: 'container' | 'network' | 'volume', label: string) =>
  (
    await execa('docker', [
      ...[kind, 'ls', ...(kind === 'container' ? ['-a'] : [])],
      ...['--filter', `label=${label}`, '--format', kind === 'container' ? '{{.Names}}' : '{{.Name}}'],
    ])
  ).stdout.trim();

describe('lab down', () => {
  it("removes this lab's containers, volumes and tailnet; the shared parts only with the last lab; keeps the cached images", async () => {
    await labDown(LAB_DIR, { images: false }, () => {});
    const mine = `infra.lab.state=${LAB_DIR}`;
    expect(await labelled('container', mine)).toBe('');
    expect(await labelled('network', mine)).toBe('');
    expect(await labelled('volume', mine)).toBe('');
    expect(await labStatus(LAB_DIR)).toBeUndefined();
    // Another lab on this machine (a rehearsal, the demo) keeps the shared network and services;
    // without one, nothing labelled infra.lab=1 is left.
    const others = (await labelled('container', 'infra.lab=1'))
      .split('\n')
      .filter((c) => c && c !== 'infra-lab-services');
    if (others.length) {
      expect(await labelled('container', 'infra.lab=1')).toContain('infra-lab-services');
      expect(await labelled('network', 'infra.lab=1')).toContain('infra-lab-public');
    } else {
      expect(await labelled('container', 'infra.lab=1')).toBe('');
      expect(await labelled('network', 'infra.lab=1')).toBe('');
      expect(await labelled('volume', 'infra.lab=1')).toBe('');
    }
    const img = await execa('docker', ['image', 'inspect', 'infra-lab/host:trixie'], { reject: false });
    expect(img.exitCode).toBe(0);
  }, 300_000);
});
