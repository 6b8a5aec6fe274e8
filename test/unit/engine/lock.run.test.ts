import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock, LOCK_FILE } from '../../../src/engine/lock.js';
import { LockHeldError } from '../../../src/errors.js';
import { FakeTransport } from '../../../src/transport/fake.js';

/** The lock script runs in a real sh and flock(1), on a temp file instead of /run/lock. */
function hostWithLockAt(file: string) {
  return new FakeTransport('h', (script) => {
    const r = spawnSync('sh', ['-c', script.replaceAll(LOCK_FILE, file)], { input: '', encoding: 'utf8' });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  });
}

describe('the host lock', () => {
  it('is taken when free, and records its owner', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'infra-lock-')), 'infra.lock');
    const release = await acquireLock(hostWithLockAt(file), 'toucan', 'alice@laptop pid 1');
    await release();
    expect(spawnSync('cat', [`${file}.owner`], { encoding: 'utf8' }).stdout).toBe('alice@laptop pid 1\n');
  });

  it('busy: waits, then fails with one line naming the holder, and a hint', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'infra-lock-')), 'infra.lock');
    writeFileSync(`${file}.owner`, 'bob@ci pid 42\n');
    const holder = spawn('flock', [file, 'sleep', '30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const err = await acquireLock(hostWithLockAt(file), 'toucan', 'alice@laptop pid 1').catch((e) => e);
      expect(err).toBeInstanceOf(LockHeldError);
      expect((err as LockHeldError).message).toBe(
        'toucan is locked by another infra run: bob@ci pid 42 (waited 5s)',
      );
      expect((err as LockHeldError).hint).toMatch(/frees itself when its connection ends/);
    } finally {
      holder.kill();
    }
  }, 20_000);
});
