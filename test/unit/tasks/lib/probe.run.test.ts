import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { SharedRead } from '../../../../src/engine/task.js';
import { CONTAINERS, selectContainers, unlessDocker } from '../../../../src/tasks/docker-reads.js';
import { probe, probeFields, probes, standalone } from '../../../../src/tasks/lib/probe.js';

const A: SharedRead = { name: 'infra_a', script: 'echo a' };
const B: SharedRead = { name: 'infra_b', script: 'echo "$infra_a"b', reads: [A] };

describe('Probe values', () => {
  it('probes() joins the scripts and unions the reads, each once', () => {
    const p = probes(probe('x=1', [A]), 'echo plain', probe('echo "$infra_a"', [A]), probe(':', [B]));
    expect(p.script).toBe('x=1\necho plain\necho "$infra_a"\n:');
    expect(p.reads).toEqual([A, B]);
  });

  it('a probe over the container list carries CONTAINERS onto the task', () => {
    const t = probeFields(probes(unlessDocker(':'), selectContainers('$1 != ""', '$1')));
    expect(t.reads).toEqual([CONTAINERS]);
    expect(t.probe).toContain('"$infra_containers"');
  });

  it('standalone() sets the reads (dependencies first) before the script, for a poll in dash', () => {
    const r = spawnSync('dash', ['-c', standalone(probe('echo "$infra_b"', [B]))], { encoding: 'utf8' });
    expect(r.stdout).toBe('ab\n');
  });
});
