import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { EngineEvent, HostResult } from '../../../src/engine/events.js';
import { runFleet } from '../../../src/engine/run.js';
import type { AnyTask, Task } from '../../../src/engine/task.js';
import { shq } from '../../../src/quote.js';
import { HumanReporter } from '../../../src/report/human.js';
import { exitCodeFor, jsonReport } from '../../../src/report/json.js';
import { Output } from '../../../src/report/output.js';
import { Redactor } from '../../../src/secrets.js';
import { FakeTransport } from '../../../src/transport/fake.js';

/**
 * The skip rule (docs/bootstrap.md) over the engine's fake transport: each host is a temp
 * directory and every probe and step runs in a real local `sh` there; only SSH is faked.
 */
function sandbox() {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-skip-'));
  const transport = new FakeTransport('h', (script, stdin) => {
    if (script.includes('flock')) return { code: 0, stdout: 'LOCKED\n', stderr: '' };
    const r = spawnSync('sh', ['-c', script], { cwd: dir, input: stdin ?? '', encoding: 'utf8' });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  });
  const has = (f: string) => existsSync(path.join(dir, f));
  const put = (...files: string[]) => {
    for (const f of files) writeFileSync(path.join(dir, f), '');
  };
  return { dir, transport, has, put };
}

interface Spec {
  id: string;
  after?: string[];
  /** Apply fails (exit 3); with `breaks`, it first removes `<id>.safe` (a half-done change). */
  fails?: boolean;
  breaks?: boolean;
  /** Declares `safe`: holds while the file `<id>.safe` exists. */
  safe?: boolean;
  waits?: boolean;
}

const file = (id: string, what: string) => shq(`${id.replace(/[^a-z0-9]/gi, '_')}.${what}`);

/** A minimal resource: in sync when the file `<id>.done` exists; `safe` and `wait` as the spec says. */
function task(s: Spec): Task<{ done: boolean; safe: boolean }> {
  return {
    id: s.id,
    after: s.after,
    probe: `test -e ${file(s.id, 'done')} && echo done; test -e ${file(s.id, 'safe')} && echo safe; true`,
    parse: (out) => ({ done: out.includes('done'), safe: out.includes('safe') }),
    diff: (st) => (st.done ? [] : [{ summary: `make ${s.id}`, kind: 'missing' }]),
    apply: () => [
      s.fails
        ? {
            script: `${s.breaks ? `rm -f ${file(s.id, 'safe')}; ` : ''}echo ${shq(`${s.id} refused`)} >&2; exit 3`,
          }
        : { script: `touch ${file(s.id, 'done')} ${file(s.id, 'applied')}` },
    ],
    ...(s.safe ? { safe: (st: { safe: boolean }) => st.safe } : {}),
    ...(s.waits ? { wait: () => ({ on: 'toucan', run: 'infra bootstrap toucan' }) } : {}),
  };
}

async function apply(
  tasks: AnyTask[],
  host = sandbox(),
  mode: 'apply' | 'check' = 'apply',
): Promise<{ result: HostResult; events: EngineEvent[]; host: ReturnType<typeof sandbox> }> {
  const events: EngineEvent[] = [];
  const [result] = await runFleet({
    hosts: ['h'],
    mode,
    plan: () => tasks,
    connect: async () => ({ transport: host.transport, via: 'fake' }),
    emit: (e) => events.push(e),
    redactor: new Redactor(),
  });
  return { result: result!, events, host };
}

const statuses = (r: HostResult) =>
  Object.fromEntries(r.tasks.map((t) => [t.task, t.cause ? `${t.status} (${t.cause})` : t.status]));

describe('skip rule', () => {
  // Each row: the plan, marker files already on the host, and each task's outcome.
  const table: { name: string; plan: Spec[]; present?: string[]; want: Record<string, string> }[] = [
    {
      name: 'a failure skips its dependents, and theirs, naming the root cause once',
      plan: [{ id: 'a', fails: true }, { id: 'b', after: ['a'] }, { id: 'c', after: ['b'] }, { id: 'x' }],
      want: { a: 'failed', b: 'skipped (a)', c: 'skipped (a)', x: 'changed' },
    },
    {
      name: 'its safety precondition holds on the host: dependents run',
      plan: [
        { id: 'a', fails: true, safe: true },
        { id: 'b', after: ['a'] },
        { id: 'c', after: ['b'] },
      ],
      present: ['a.safe'],
      want: { a: 'failed', b: 'changed', c: 'changed' },
    },
    {
      name: 'a declared precondition that does not hold: dependents skipped',
      plan: [
        { id: 'a', fails: true, safe: true },
        { id: 'b', after: ['a'] },
      ],
      want: { a: 'failed', b: 'skipped (a)' },
    },
    {
      name: 'the failure itself broke the precondition: judged again after it, dependents skipped',
      plan: [
        { id: 'a', fails: true, safe: true, breaks: true },
        { id: 'b', after: ['a'] },
      ],
      present: ['a.safe'],
      want: { a: 'failed', b: 'skipped (a)' },
    },
    {
      name: 'a skipped task whose own precondition holds lets its dependents run',
      plan: [
        { id: 'a', fails: true },
        { id: 'b', after: ['a'], safe: true },
        { id: 'c', after: ['b'] },
      ],
      present: ['b.safe'],
      want: { a: 'failed', b: 'skipped (a)', c: 'changed' },
    },
    {
      // UFW's Docker rules in after.rules protect nothing while UFW is off: in sync is not enough.
      name: 'a skipped task in sync but without a precondition does not vouch for what is beyond',
      plan: [
        { id: 'a', fails: true },
        { id: 'b', after: ['a'] },
        { id: 'c', after: ['b'] },
      ],
      present: ['b.done'],
      want: { a: 'failed', b: 'skipped (a)', c: 'skipped (a)' },
    },
    {
      name: 'two failures: each dependent names the one it waits on',
      plan: [
        { id: 'a', fails: true },
        { id: 'b', fails: true },
        { id: 'c', after: ['a'] },
        { id: 'd', after: ['b'] },
      ],
      want: { a: 'failed', b: 'failed', c: 'skipped (a)', d: 'skipped (b)' },
    },
    {
      name: 'a waiting task is never applied; its dependents are skipped for it',
      plan: [{ id: 'w', waits: true }, { id: 'c', after: ['w'] }, { id: 'x' }],
      want: { w: 'waiting', c: 'skipped (w)', x: 'changed' },
    },
    {
      name: 'a waiting task already in sync is simply ok',
      plan: [
        { id: 'w', waits: true },
        { id: 'c', after: ['w'] },
      ],
      present: ['w.done'],
      want: { w: 'ok', c: 'changed' },
    },
  ];

  it.each(table)('$name', async ({ plan, present, want }) => {
    const host = sandbox();
    host.put(...(present ?? []));
    const { result } = await apply(plan.map(task), host);
    expect(statuses(result)).toEqual(want);
    // Nothing skipped or waiting ran a step of its own.
    for (const [id, status] of Object.entries(want))
      expect(host.has(`${id}.applied`), id).toBe(status === 'changed');
  });

  it.each<[string, Spec[], string, number]>([
    [
      'a failure',
      [
        { id: 'a', fails: true },
        { id: 'b', after: ['a'] },
      ],
      'failed',
      1,
    ],
    ['a wait only', [{ id: 'w', waits: true }, { id: 'b', after: ['w'] }, { id: 'x' }], 'pending', 2],
    [
      'a wait and a failure',
      [
        { id: 'w', waits: true },
        { id: 'a', fails: true },
      ],
      'failed',
      1,
    ],
    ['everything converged', [{ id: 'x' }, { id: 'y', after: ['x'] }], 'changed', 0],
  ])('host status and exit code with %s: %s, exit %d', async (_n, plan, status, code) => {
    const { result } = await apply(plan.map(task));
    expect(result.status).toBe(status);
    expect(exitCodeFor('apply', [result])).toBe(code);
  });

  it('check reports a waiting task as waiting (exit 2), not as drift to fix by apply', async () => {
    const { result } = await apply([task({ id: 'w', waits: true }), task({ id: 'x' })], sandbox(), 'check');
    expect(statuses(result)).toEqual({ w: 'waiting', x: 'drift' });
    expect(exitCodeFor('check', [result])).toBe(2);
  });
});

/** Everything a HumanReporter prints for a run, colour off. */
function human(events: EngineEvent[], results: HostResult[], verbose = false): string {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  const r = new HumanReporter(new Output(new Redactor(), sink, sink), 'apply', verbose);
  r.hosts(results.map((x) => x.host));
  for (const e of events) r.handle(e);
  r.recap(results);
  return text.replace(/\d+\.\ds/g, 'T');
}

describe('recap', () => {
  const refused = () => {
    const host = sandbox();
    host.put('packages_base.done');
    return apply(
      [
        task({ id: 'sshd', fails: true, safe: true }),
        task({ id: 'ufw', after: ['sshd'] }),
        task({ id: 'ufw:docker', after: ['ufw'] }),
        task({ id: 'packages:docker', after: ['ufw:docker'] }),
        task({ id: 'packages:base' }),
        task({ id: 'timer' }),
      ],
      host,
    );
  };

  it('one refusal: failed 1, the three tasks behind it on ONE skipped line naming it once', async () => {
    const { result, events } = await refused();
    const out = human(events, [result]);
    expect(out.split('\n')).toEqual([
      'h         failed  sshd',
      '    - make sshd',
      '    step exited 3',
      '    │ sshd refused',
      'h         changed timer: make timer',
      'h         skipped ufw, ufw:docker, packages:docker — not run: sshd failed',
      '',
      'h         ok 1  changed 1  failed 1  skipped 3   T',
      '          left: fix sshd (3 skipped tasks wait on it)',
      '',
    ]);
    expect(out.match(/sshd failed/g)).toHaveLength(1);
  });

  it('-v lists what each skipped task would have changed, under the one line', async () => {
    const { result, events } = await refused();
    expect(human(events, [result], true)).toContain(
      'h         skipped ufw, ufw:docker, packages:docker — not run: sshd failed\n    - ufw: make ufw\n    - ufw:docker: make ufw:docker\n    - packages:docker: make packages:docker\n',
    );
  });

  it('a wait: its own line and state, and the recap says what is left', async () => {
    const { result, events } = await apply([
      task({ id: 'stack:alloy', waits: true }),
      task({ id: 'stack:alloy:health', after: ['stack:alloy'] }),
      task({ id: 'packages:base' }),
    ]);
    expect(human(events, [result]).split('\n')).toEqual([
      'h         waiting stack:alloy: waiting for toucan: run infra bootstrap toucan',
      '    - make stack:alloy', // what it waits to do
      'h         changed packages:base: make packages:base',
      'h         skipped stack:alloy:health — not run: stack:alloy is waiting for toucan: run infra bootstrap toucan',
      '',
      'h         ok 0  changed 1  failed 0  skipped 1  waiting 1   T',
      '          left: stack:alloy is waiting for toucan: run infra bootstrap toucan (1 skipped task wait on it)',
      '',
    ]);
  });

  it('--json counts each status apart and names the cause of each skip', async () => {
    const { result } = await refused();
    const doc = jsonReport('apply', [result]);
    const h = doc.hosts[0]!;
    expect(h.status).toBe('error');
    expect(h.counts).toEqual({ ok: 1, changed: 1, drift: 0, failed: 1, skipped: 3, waiting: 0 });
    expect(h.findings).toEqual([
      { task: 'sshd', kind: 'error', message: 'step exited 3', expected: null, actual: null },
      ...['ufw', 'ufw:docker', 'packages:docker'].map((task) => ({
        task,
        kind: 'skipped',
        message: 'not run: sshd failed',
        expected: null,
        actual: null,
        cause: 'sshd',
      })),
    ]);
    expect(h.changes.map((c) => c.task)).toEqual(['timer']);
  });

  it('--json: a waiting host is pending, its finding names the host it waits for and what it waits to do', async () => {
    const { result } = await apply([task({ id: 'stack:alloy', waits: true })]);
    const doc = jsonReport('apply', [result]);
    expect(doc.hosts[0]!.status).toBe('pending');
    expect(doc.hosts[0]!.findings).toEqual([
      {
        task: 'stack:alloy',
        kind: 'waiting',
        message: 'waiting for toucan: run infra bootstrap toucan',
        expected: null,
        actual: null,
        waitingFor: 'toucan',
        pending: [{ kind: 'missing', message: 'make stack:alloy' }], // what it waits to do
      },
    ]);
    expect(doc.summary).toMatchObject({ hosts: 1, pending: 1, error: 0 });
  });
});
