import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, sharedReadsOf, splitBatch, stderrOf } from '../../src/engine/batch.js';

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

describe('shared reads', () => {
  const ps = { name: 'infra_ps', script: 'echo "a running"; echo "b exited"; echo noise >&2' };
  const running = { name: 'infra_running', script: 'printf "%s\\n" "$infra_ps" | grep running', reads: [ps] };

  it('run once, before the probes, and every probe reads them', () => {
    const reads = sharedReadsOf([{ reads: [running] }, { reads: [ps] }, {}]);
    expect(reads.map((r) => r.name)).toEqual(['infra_ps', 'infra_running']);
    const script = batchScript(['echo "$infra_running"', 'printf "%s\\n" "$infra_ps" | wc -l'], 'n', reads);
    const r = run(script);
    expect(splitBatch(r.stdout, 2, 'n').map((o) => o.stdout.trim())).toEqual(['a running', '2']);
    expect(r.stderr).not.toContain('noise'); // a read's stderr never lands in a probe's section
    expect(script.split('echo "a running"').length).toBe(2);
  });

  it('refuses two different reads under one name', () => {
    expect(() => sharedReadsOf([{ reads: [ps] }, { reads: [{ name: 'infra_ps', script: 'true' }] }])).toThrow(
      /two shared reads named infra_ps/,
    );
  });
});
