import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { EngineEvent, HostResult } from '../../../src/engine/events.js';
import { HumanReporter } from '../../../src/report/human.js';
import { Output } from '../../../src/report/output.js';
import { Redactor } from '../../../src/secrets.js';

/** A reporter writing to a buffer (not a TTY: no status line), colours off. */
function capture(mode: 'apply' | 'plan' | 'check', verbose = false, secrets: string[] = []) {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const redactor = new Redactor();
  for (const s of secrets) redactor.add(s);
  const r = new HumanReporter(new Output(redactor, stdout, new PassThrough()), mode, verbose);
  r.hosts(['toucan', 'hornbill']);
  return { r, lines: () => stripVTControlCharacters(text).split('\n') };
}

const result = (over: Partial<HostResult>): HostResult => ({
  host: 'toucan',
  status: 'changed',
  tasks: [],
  durationMs: 1234,
  stats: { connections: 1, execs: 3 },
  ...over,
});

describe('HumanReporter: golden lines', () => {
  it('apply: one line per change, errors with their stderr, skips grouped by cause, a recap', () => {
    const { r, lines } = capture('apply');
    const tasks: HostResult['tasks'] = [
      { task: 'packages', status: 'ok', changes: [] },
      { task: 'sshd', status: 'changed', changes: [{ summary: 'update drop-in', kind: 'file-content' }] },
      {
        task: 'ufw',
        status: 'failed',
        changes: [{ summary: 'enable ufw', kind: 'disabled' }],
        error: 'refused (nothing was run)',
        stderr: 'no way',
      },
      { task: 'ufw:docker', status: 'skipped', changes: [], cause: 'ufw', error: 'not run: ufw failed' },
      { task: 'docker', status: 'skipped', changes: [], cause: 'ufw', error: 'not run: ufw failed' },
    ];
    const events: EngineEvent[] = [
      { type: 'host-start', host: 'toucan' },
      { type: 'host-connected', host: 'toucan', via: 'tailnet' },
      ...tasks.map((t) => ({ type: 'task' as const, host: 'toucan', result: t })),
      { type: 'host-done', result: result({ status: 'failed', tasks }) },
    ];
    for (const e of events) r.handle(e);
    r.recap([result({ status: 'failed', tasks })]);
    expect(lines()).toEqual([
      'toucan    changed sshd: update drop-in',
      'toucan    failed  ufw',
      '    - enable ufw',
      '    refused (nothing was run)',
      '    │ no way',
      'toucan    skipped ufw:docker, docker — not run: ufw failed',
      '',
      'toucan    ok 1  changed 1  failed 1  skipped 2   1.2s',
      '          left: fix ufw (2 skipped tasks wait on it)',
      '',
    ]);
  });

  it('check: drift reads as drift with the fix; in sync says so; unreachable stands alone', () => {
    const { r, lines } = capture('check');
    const drift = result({
      status: 'drift',
      tasks: [
        {
          task: 'ufw',
          status: 'drift',
          changes: [{ summary: 'add rule allow 443/tcp', kind: 'rule-missing' }],
        },
      ],
    });
    for (const t of drift.tasks) r.handle({ type: 'task', host: 'toucan', result: t });
    r.handle({
      type: 'host-done',
      result: result({ host: 'hornbill', status: 'unreachable', error: 'cannot connect', hint: 'is it up?' }),
    });
    r.recap([
      drift,
      result({ host: 'hornbill', status: 'ok', tasks: [{ task: 'packages', status: 'ok', changes: [] }] }),
      result({ host: 'hornbill', status: 'unreachable' }),
    ]);
    expect(lines()).toEqual([
      'toucan    drift   ufw: add rule allow 443/tcp',
      'hornbill  unreachable: cannot connect',
      '          hint: is it up?',
      '',
      'toucan    ok 0  drift 1  failed 0   1.2s   fix: infra apply toucan',
      'hornbill  in sync  ok 1  drift 0  failed 0   1.2s',
      'hornbill  unreachable   1.2s',
      '',
    ]);
  });

  it('plan says would; a waiting task names what ends the wait; secrets never print', () => {
    const { r, lines } = capture('plan', false, ['s3cr3t-token']);
    r.handle({
      type: 'task',
      host: 'toucan',
      result: {
        task: 'tailscale',
        status: 'drift',
        changes: [{ summary: 'join with s3cr3t-token', kind: 'x' }],
      },
    });
    r.handle({
      type: 'task',
      host: 'toucan',
      result: {
        task: 'stack:alloy',
        status: 'waiting',
        changes: [],
        wait: { on: 'toucan', run: 'infra bootstrap toucan' },
      },
    });
    expect(lines().slice(0, 2)).toEqual([
      'toucan    would   tailscale: join with ***',
      'toucan    waiting stack:alloy: waiting for toucan: run infra bootstrap toucan',
    ]);
  });
});
