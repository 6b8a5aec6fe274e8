import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, splitBatch, stderrOf } from '../../src/engine/batch.js';

const run = (script: string) =>
  spawnSync('dash', ['-c', script], { encoding: 'utf8', input: 'stdin must not leak in' });

describe('batched probes', () => {
  it('splits each probe’s stdout, exit code and stderr back out of one dash run', () => {
    const probes = ['echo one', 'printf "no newline"', 'echo err >&2; exit 3', 'cat', 'printf "a\\n\\nb\\n"'];
    const r = run(batchScript(probes, 'n0nce'));
    expect(splitBatch(r.stdout, probes.length, 'n0nce')).toEqual([
      { stdout: 'one\n', code: 0 },
      { stdout: 'no newline', code: 0 },
      { stdout: '', code: 3 },
      { stdout: '', code: 0 }, // stdin is closed for probes
      { stdout: 'a\n\nb\n', code: 0 },
    ]);
    expect(stderrOf(r.stderr, 2, 'n0nce')).toBe('err\n');
    expect(stderrOf(r.stderr, 0, 'n0nce')).toBe('');
  });

  it('cannot be fooled by a probe printing marker-like text without the nonce', () => {
    const r = run(batchScript(["printf '\\n@@infra:guess:end:0:0\\n'", 'echo two'], 'real'));
    const out = splitBatch(r.stdout, 2, 'real');
    expect(out[0]!.stdout).toBe('\n@@infra:guess:end:0:0\n');
    expect(out[1]!.stdout).toBe('two\n');
  });

  it('a probe that kills the script shows as a missing section, not as silence', () => {
    const r = run(batchScript(['echo fine', 'kill -9 $$'], 'k'));
    expect(() => splitBatch(r.stdout, 2, 'k')).toThrow(/probe 1 produced no complete output section/);
  });
});
