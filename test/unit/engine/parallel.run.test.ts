import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parallelOf } from '../../../src/commands/converge.js';
import { limiter, PARALLEL_HANDSHAKES, runFleet } from '../../../src/engine/run.js';
import type { Task } from '../../../src/engine/task.js';
import { isInfraError } from '../../../src/errors.js';
import { Redactor } from '../../../src/secrets.js';
import { FakeTransport } from '../../../src/transport/fake.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One read-only task whose probe answers "fine": every host ends in sync. */
const fine: Task<string> = {
  id: 'fine',
  after: [],
  probe: 'echo fine',
  parse: (out) => out,
  diff: () => [],
  apply: () => [],
};

/** A fleet whose handshakes take `ms` each; records how many were under way at once, at most. */
async function fleet(hosts: number, parallel: number | undefined, ms = 15) {
  let connecting = 0;
  let peak = 0;
  let probing = 0;
  let peakProbing = 0;
  const names = Array.from({ length: hosts }, (_, i) => `h${i}`);
  const results = await runFleet({
    hosts: names,
    mode: 'check',
    plan: () => [fine],
    parallel,
    connect: async (h) => {
      peak = Math.max(peak, ++connecting);
      await sleep(ms);
      connecting--;
      // The batch itself is slow: hosts that connected keep probing while others connect.
      const transport = new FakeTransport(h, async (script, stdin) => {
        peakProbing = Math.max(peakProbing, ++probing);
        await sleep(ms * 4);
        probing--;
        const r = spawnSync('sh', ['-c', script], { input: stdin ?? '', encoding: 'utf8' });
        return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
      });
      return { transport, via: 'fake' };
    },
    emit: () => {},
    redactor: new Redactor(),
  });
  return { results, peak, peakProbing };
}

describe('bounded handshakes (--parallel)', () => {
  it('never has more than --parallel handshakes under way, and every host still runs', async () => {
    const { results, peak, peakProbing } = await fleet(12, 3);
    expect(peak).toBe(3);
    expect(results.map((r) => r.status)).toEqual(Array(12).fill('ok'));
    // A host gives its slot back once connected: more hosts probe at once than connect at once.
    expect(peakProbing).toBeGreaterThan(3);
  });

  it(`defaults to ${PARALLEL_HANDSHAKES} at once`, async () => {
    const { peak, results } = await fleet(PARALLEL_HANDSHAKES + 8, undefined, 5);
    expect(peak).toBe(PARALLEL_HANDSHAKES);
    expect(results).toHaveLength(PARALLEL_HANDSHAKES + 8);
  });

  it('a failed handshake gives its slot back', async () => {
    const gate = limiter(1);
    await expect(gate(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await expect(gate(async () => 'next')).resolves.toBe('next');
  });

  it('--parallel takes a positive whole number, or says what it expects', () => {
    expect(parallelOf(undefined)).toBeUndefined();
    expect(parallelOf('8')).toBe(8);
    for (const bad of ['0', '-2', '1.5', 'many', '']) {
      let thrown: unknown;
      try {
        parallelOf(bad);
      } catch (e) {
        thrown = e;
      }
      expect(isInfraError(thrown), bad).toBe(true);
      expect((thrown as Error).message).toBe(
        `--parallel: expected a positive whole number of SSH handshakes at once, got ${bad}`,
      );
    }
  });
});
