import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../../../src/tasks/lib/refuse.js';

describe('refusal', () => {
  it('carries the reason as data, and a script that says it verbatim in dash', () => {
    const why = "refused: it's `id` $(x) \\n";
    const step = refusal(why);
    expect(step.refuse).toBe(why);
    const r = spawnSync('dash', ['-c', step.script], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([1, `${why}\n`]);
  });
});
