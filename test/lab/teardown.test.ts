import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { labDown, labStatus } from '../../src/lab/index.js';
import { LAB_DIR } from './helpers.js';

/** Runs last (see vitest.config.ts): every suite before it shares the lab this removes. */
const labelled = async (kind: string) =>
  (
    await execa('docker', [
      kind,
      'ls',
      ...(kind === 'container' ? ['-a'] : []),
      '-q',
      '--filter',
      'label=infra.lab=1',
    ])
  ).stdout.trim();

describe('lab down', () => {
  it('leaves no container, network or volume labelled infra.lab=1, and keeps the cached images', async () => {
    await labDown(LAB_DIR, { images: false }, () => {});
    expect(await labelled('container')).toBe('');
    expect(await labelled('network')).toBe('');
    expect(await labelled('volume')).toBe('');
    expect(await labStatus(LAB_DIR)).toBeUndefined();
    const img = await execa('docker', ['image', 'inspect', 'infra-lab/host:trixie'], { reject: false });
    expect(img.exitCode).toBe(0);
  }, 300_000);
});
