import { Writable } from 'node:stream';
import chalk from 'chalk';
import { describe, expect, it } from 'vitest';
import type { HostResult, TaskResult } from '../../../src/engine/events.js';
import { HumanReporter, RECAP_EACH_MAX } from '../../../src/report/human.js';
import { Output } from '../../../src/report/output.js';
import { Redactor } from '../../../src/secrets.js';

chalk.level = 0;

const ok: TaskResult = { task: 't', status: 'ok', changes: [] };
const drift: TaskResult = {
  task: 'sshd',
  status: 'drift',
  changes: [{ summary: 'PermitRootLogin', kind: 'x' }],
};
const host = (i: number, tasks: TaskResult[] = [ok]): HostResult => ({
  host: `h${String(i).padStart(3, '0')}`,
  status: tasks.some((t) => t.status === 'drift') ? 'drift' : 'ok',
  tasks,
  durationMs: 1200,
  stats: { connections: 1, execs: 1 },
});

function recap(results: HostResult[], verbose = false): string[] {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const r = new HumanReporter(new Output(new Redactor(), sink, sink), 'check', verbose);
  r.hosts(results.map((x) => x.host));
  r.recap(results);
  return text.trim().split('\n');
}

describe('check recap at fleet scale', () => {
  it('200 hosts: the ones with findings each get their line, the in-sync ones ONE line', () => {
    const results = Array.from({ length: 200 }, (_, i) => host(i + 1, i % 50 === 7 ? [ok, drift] : [ok]));
    expect(recap(results)).toEqual([
      'h008      ok 1  drift 1  failed 0   1.2s   fix: infra apply h008',
      'h058      ok 1  drift 1  failed 0   1.2s   fix: infra apply h058',
      'h108      ok 1  drift 1  failed 0   1.2s   fix: infra apply h108',
      'h158      ok 1  drift 1  failed 0   1.2s   fix: infra apply h158',
      'in sync: 196 of 200 hosts (h001, h002, h003 … h200; -v lists each)',
    ]);
  });

  it(`up to ${RECAP_EACH_MAX} hosts, and with -v, every host keeps its own line`, () => {
    const few = Array.from({ length: RECAP_EACH_MAX }, (_, i) => host(i + 1));
    expect(recap(few)).toHaveLength(RECAP_EACH_MAX);
    expect(recap(few)[0]).toBe('h001      in sync  ok 1  drift 0  failed 0   1.2s');
    const many = Array.from({ length: 30 }, (_, i) => host(i + 1));
    expect(recap(many, true)).toHaveLength(30);
  });
});
