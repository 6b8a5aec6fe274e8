import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchScript, sharedReadsOf, splitBatch } from '../../../src/engine/batch.js';

const run = (script: string) =>
  spawnSync('dash', ['-c', script], { encoding: 'utf8', input: 'stdin must not leak in' });

describe('batched probes', () => {
  it('splits each probe’s stdout, exit code and stderr back out of one dash run', () => {
    const probes = ['echo one', 'printf "no newline"', 'echo err >&2; exit 3', 'cat', 'printf "a\\n\\nb\\n"'];
    const r = run(batchScript(probes, 'n0nce'));
    expect(splitBatch(r.stdout, probes.length, 'n0nce')).toEqual([
      { stdout: 'one\n', stderr: '', code: 0 },
      { stdout: 'no newline', stderr: '', code: 0 },
      { stdout: '', stderr: 'err', code: 3 },
      { stdout: '', stderr: '', code: 0 }, // stdin is closed for probes
      { stdout: 'a\n\nb\n', stderr: '', code: 0 },
    ]);
    expect(r.stderr).toBe('');
  });

  it('runs probes at once in lanes, yet keeps each section whole and findable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lanes-'));
    // Probe 0 waits for a mark that probe 3, in another lane, leaves: one after the other, it
    // would give up after 5 s and say so.
    const wait = `i=0; until [ -e ${dir}/mark ] || [ $i -ge 500 ]; do sleep 0.01; i=$((i+1)); done; [ -e ${dir}/mark ] && echo together || echo alone`;
    const probes = [
      wait,
      ...Array.from({ length: 7 }, (_, i) => `echo "${i + 1}a"; echo "e${i + 1}" >&2; echo "${i + 1}b"`),
    ];
    probes[3] = `touch ${dir}/mark; ${probes[3]}`;
    const r = run(batchScript(probes, 'lanes', [], 4));
    const out = splitBatch(r.stdout, probes.length, 'lanes');
    expect(out[0]).toEqual({ stdout: 'together\n', stderr: '', code: 0 });
    expect(out.slice(1)).toEqual(
      probes.slice(1).map((_, k) => ({ stdout: `${k + 1}a\n${k + 1}b\n`, stderr: `e${k + 1}`, code: 0 })),
    );
    // One lane is the old, one-after-the-other batch, and reads the same apart from the wait.
    rmSync(`${dir}/mark`);
    const one = splitBatch(run(batchScript(probes.slice(1), 'one', [], 1)).stdout, 7, 'one');
    expect(one).toEqual(out.slice(1));
    rmSync(dir, { recursive: true });
  });

  it('an empty batch is still a valid script', () => {
    const r = run(batchScript([], 'e'));
    expect(r.status, r.stderr).toBe(0);
    expect(splitBatch(r.stdout, 0, 'e')).toEqual([]);
  });

  it('a probe exiting early ends only its own section', () => {
    const r = run(batchScript(['exit 4', 'echo after'], 'x', [], 2));
    expect(splitBatch(r.stdout, 2, 'x')).toEqual([
      { stdout: '', stderr: '', code: 4 },
      { stdout: 'after\n', stderr: '', code: 0 },
    ]);
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
