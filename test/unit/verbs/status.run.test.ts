import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, splitBatch } from '../../../src/engine/batch.js';
import { diskProbe, FACTS_PROBE, parseDisks, parseFacts } from '../../../src/tasks/host-status.js';

describe('status: the probes run in a real POSIX shell', () => {
  it('facts and disks of this machine, through the batch', () => {
    const probes = [FACTS_PROBE, diskProbe('/tmp')];
    const nonce = 'abc123';
    const out = execFileSync('dash', ['-c', batchScript(probes, nonce)], { encoding: 'utf8' });
    const [facts, disks] = splitBatch(out, 2, nonce);
    const f = parseFacts(facts!.stdout);
    expect(f.kernel).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    expect(f.uptimeSec).toBeGreaterThan(0);
    expect(f.memory?.totalBytes).toBeGreaterThan(0);
    expect(parseDisks(disks!.stdout, 100).map((d) => d.path)).toContain('/tmp');
  });
});
