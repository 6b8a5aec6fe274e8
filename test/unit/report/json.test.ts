import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/engine/events.js';
import { exitCodeFor, jsonReport } from '../../../src/report/json.js';

const host = (over: Partial<HostResult>): HostResult => ({
  host: 'toucan',
  status: 'ok',
  tasks: [],
  durationMs: 10,
  stats: { connections: 1, execs: 1 },
  ...over,
});

describe('jsonReport: the --json document (version 1)', () => {
  it('is golden for drift, a failure, a skip, a wait and an unreachable host', () => {
    const results = [
      host({
        status: 'drift',
        tasks: [
          {
            task: 'ufw',
            status: 'drift',
            changes: [{ summary: 'add rule', kind: 'rule-missing', expected: '443', actual: null }],
          },
          { task: 'sshd', status: 'failed', changes: [], error: 'refused (nothing was run)' },
          { task: 'docker', status: 'skipped', changes: [], cause: 'sshd', error: 'not run: sshd failed' },
          {
            task: 'stack:alloy',
            status: 'waiting',
            changes: [],
            wait: { on: 'toucan', run: 'infra bootstrap toucan' },
          },
        ],
      }),
      host({
        host: 'hornbill',
        status: 'unreachable',
        error: 'cannot connect',
        stats: { connections: 0, execs: 0 },
      }),
    ];
    expect(jsonReport('check', results, { toucan: ['warning: no mail'] })).toEqual({
      version: 1,
      mode: 'check',
      hosts: [
        {
          name: 'toucan',
          status: 'drift',
          durationMs: 10,
          counts: { ok: 0, changed: 0, drift: 1, failed: 1, skipped: 1, waiting: 1 },
          findings: [
            { task: 'ufw', kind: 'rule-missing', message: 'add rule', expected: '443', actual: null },
            {
              task: 'sshd',
              kind: 'error',
              message: 'refused (nothing was run)',
              expected: null,
              actual: null,
            },
            {
              task: 'docker',
              kind: 'skipped',
              message: 'not run: sshd failed',
              cause: 'sshd',
              expected: null,
              actual: null,
            },
            {
              task: 'stack:alloy',
              kind: 'waiting',
              message: 'waiting for toucan: run infra bootstrap toucan',
              waitingFor: 'toucan',
              expected: null,
              actual: null,
            },
          ],
          changes: [],
          warnings: ['warning: no mail'],
          stats: { connections: 1, execs: 1 },
        },
        {
          name: 'hornbill',
          status: 'unreachable',
          durationMs: 10,
          error: 'cannot connect',
          counts: { ok: 0, changed: 0, drift: 0, failed: 0, skipped: 0, waiting: 0 },
          findings: [],
          changes: [],
          stats: { connections: 0, execs: 0 },
        },
      ],
      summary: { hosts: 2, inSync: 0, drift: 1, changed: 0, pending: 0, unreachable: 1, error: 0 },
    });
  });

  it('a waiting task keeps the kinds it found and waits to fix (`pending`), as the human report lists them', () => {
    const waiting = host({
      status: 'pending',
      tasks: [
        {
          task: 'pitr-source',
          status: 'waiting',
          changes: [{ summary: 'the slot is inactive', kind: 'wal-stream-stopped' }],
          wait: { on: 'toucan', run: 'infra apply toucan' },
        },
      ],
    });
    expect(jsonReport('check', [waiting]).hosts[0]!.findings).toEqual([
      {
        task: 'pitr-source',
        kind: 'waiting',
        message: 'waiting for toucan: run infra apply toucan',
        waitingFor: 'toucan',
        pending: [{ kind: 'wal-stream-stopped', message: 'the slot is inactive' }],
        expected: null,
        actual: null,
      },
    ]);
  });

  it('lists applied changes apart from findings', () => {
    const doc = jsonReport('apply', [
      host({
        status: 'changed',
        tasks: [{ task: 'sshd', status: 'changed', changes: [{ summary: 'update', kind: 'file-content' }] }],
      }),
    ]);
    expect(doc.hosts[0]!.changes).toEqual([
      { task: 'sshd', kind: 'file-content', message: 'update', expected: null, actual: null },
    ]);
    expect(doc.hosts[0]!.findings).toEqual([]);
    expect(doc.summary.changed).toBe(1);
  });
});

describe('exitCodeFor', () => {
  it.each([
    ['apply', 'ok', 0],
    ['apply', 'changed', 0],
    ['apply', 'pending', 2],
    ['apply', 'failed', 1],
    ['check', 'drift', 2],
    ['check', 'unreachable', 1],
    ['plan', 'drift', 2],
    ['check', 'ok', 0],
  ] as const)('%s with a host %s -> %d', (mode, status, code) => {
    expect(exitCodeFor(mode, [host({ status })])).toBe(code);
  });
});
