import { errorMessage } from '../errors.js';
import { trace, traceBatch } from '../trace.js';
import type { Transport } from '../transport/types.js';
import { batchScript, newNonce, sharedReadsOf, splitBatch } from './batch.js';
import type { Emit, Mode, TaskResult } from './events.js';
import { armDeadman, type Guard } from './guard.js';
import { dependenciesOf, orderTasks } from './order.js';
import { type AnyTask, type Change, type Wait, waitMessage } from './task.js';

const PROBE_TIMEOUT_MS = 120_000;

interface Probed {
  task: AnyTask;
  state?: unknown;
  changes: Change[];
  error?: string;
  stderr?: string;
}

/**
 * Runs one host's tasks over an open transport (apply: converges; plan/check: only compares):
 * one batched probe round trip, apply only what differs, one batched verifying probe.
 */
export async function runTasks(
  host: string,
  transport: Transport,
  tasks: readonly AnyTask[],
  mode: Mode,
  emit: Emit,
  guard?: Guard,
): Promise<TaskResult[]> {
  const ordered = orderTasks(tasks);
  const probeAll = async (list: readonly AnyTask[]) => {
    const result = await probeTasks(host, transport, list);
    for (const p of result) {
      const facts = p.task.learn && p.state !== undefined ? p.task.learn(p.state) : undefined;
      if (facts && Object.keys(facts).length) emit({ type: 'facts', host, facts });
    }
    return result;
  };
  const probed = await probeAll(ordered);
  for (const p of probed)
    if (p.task.warnings && p.state !== undefined)
      for (const message of p.task.warnings(p.state)) emit({ type: 'warning', host, message });
  const results = new Map<string, TaskResult>();
  const report = (r: TaskResult) => {
    results.set(r.task, r);
    emit({ type: 'task', host, result: r });
  };

  if (mode !== 'apply') {
    for (const p of probed) {
      const wait = waitOf(p);
      if (p.error)
        report({ task: p.task.id, status: 'failed', changes: [], error: p.error, stderr: p.stderr });
      else if (wait) report({ task: p.task.id, status: 'waiting', changes: p.changes, wait });
      else report({ task: p.task.id, status: p.changes.length ? 'drift' : 'ok', changes: p.changes });
    }
    return [...results.values()];
  }

  const changedIds = new Set<string>();
  // The skip rule (docs/bootstrap.md): a task runs when each task it is `after` converged, or
  // did not but declares `safe` and it holds on the host; otherwise it is skipped. Being in sync
  // itself is not enough to provide for others: UFW's Docker rules in after.rules protect
  // nothing while UFW is off, so only an explicit predicate vouches for what lies beyond.
  const safeIds = new Set<string>();
  const provides = (id: string) => {
    const s = results.get(id)?.status;
    return s === 'ok' || s === 'changed' || safeIds.has(id);
  };
  const markSafe = (q: Probed) => {
    if (!q.error && q.state !== undefined && q.task.safe?.(q.state)) safeIds.add(q.task.id);
  };
  const verified: Probed[] = [];
  for (let p of probed) {
    const deps = dependenciesOf(ordered, p.task.id);
    // What a dependency just changed (a package installed, a service started) can change this
    // task's picture: probe it again rather than apply a stale plan (or call it in sync).
    if ([...deps].some((d) => changedIds.has(d))) p = (await probeAll([p.task]))[0]!;
    const blocked = (p.task.after ?? []).find((d) => !provides(d));
    if (blocked) {
      const root = results.get(blocked)!;
      const cause = root.status === 'skipped' ? (root.cause ?? blocked) : blocked;
      const why = results.get(cause)?.wait ? `is ${waitMessage(results.get(cause)!.wait!)}` : 'failed';
      report({
        task: p.task.id,
        status: 'skipped',
        changes: p.changes,
        cause,
        error: `not run: ${cause} ${why}`,
      });
      markSafe(p);
      continue;
    }
    if (p.error) {
      report({ task: p.task.id, status: 'failed', changes: [], error: p.error, stderr: p.stderr });
      continue;
    }
    if (p.changes.length === 0) {
      report({ task: p.task.id, status: 'ok', changes: [] });
      continue;
    }
    const wait = waitOf(p);
    if (wait) {
      report({ task: p.task.id, status: 'waiting', changes: p.changes, wait });
      continue;
    }
    const failure = await applyTask(transport, p, guard);
    if (failure) {
      report({ task: p.task.id, status: 'failed', changes: p.changes, ...failure });
      // Judge `safe` on the host as the failure left it (a guarded task has rolled back by now).
      if (p.task.safe) markSafe((await probeAll([p.task]))[0]!);
      continue;
    }
    changedIds.add(p.task.id);
    results.set(p.task.id, { task: p.task.id, status: 'changed', changes: p.changes });
    // Facts (the tailnet address) are needed by later steps of this very run: verify now.
    if (p.task.learn) verified.push(...(await probeAll([p.task])));
  }

  // Verify the other changed tasks in one round trip; a task that still differs is not idempotent.
  const rest = probed.filter((p) => changedIds.has(p.task.id) && !p.task.learn).map((p) => p.task);
  if (rest.length) verified.push(...(await probeAll(rest)));
  for (const v of verified) {
    const before = results.get(v.task.id)!;
    if (v.error) report({ ...before, status: 'failed', error: `verify: ${v.error}`, stderr: v.stderr });
    else if (v.changes.length > 0)
      report({
        ...before,
        status: 'failed',
        error: `not idempotent: still differs after apply: ${v.changes.map((c) => c.summary).join('; ')}`,
      });
    else report(before);
  }
  return ordered.map((t) => results.get(t.id)!);
}

/** A task that has something to do but waits for something outside the host (Task.wait). */
function waitOf(p: Probed): Wait | undefined {
  return !p.error && p.changes.length && p.state !== undefined ? p.task.wait?.(p.state) : undefined;
}

async function probeTasks(host: string, transport: Transport, tasks: readonly AnyTask[]): Promise<Probed[]> {
  const nonce = newNonce();
  // Tasks that read the same thing (Tailscale's state for two tasks) share one run of the probe.
  const probes = [...new Set(tasks.map((t) => t.probe))];
  const script = batchScript(probes, nonce, sharedReadsOf(tasks));
  traceBatch(host, script);
  trace('batch-sent', host);
  // The batch goes on stdin, not in argv: Linux caps one argument at 128 KiB, and a host with
  // dozens of apps would pass that.
  const r = await transport.exec('sh -s', { stdin: script, timeoutMs: PROBE_TIMEOUT_MS });
  trace('batch-back', host);
  let outputs: ReturnType<typeof splitBatch>;
  try {
    const sections = splitBatch(r.stdout, probes.length, nonce);
    outputs = tasks.map((t) => sections[probes.indexOf(t.probe)]!);
  } catch (e) {
    return tasks.map((task) => ({
      task,
      changes: [],
      error: `probe round failed: ${errorMessage(e)}`,
      stderr: tail(r.stderr),
    }));
  }
  return tasks.map((task, i) => {
    const o = outputs[i]!;
    const stderr = tail(o.stderr);
    if (o.code !== 0) return { task, changes: [], error: `probe exited ${o.code}`, stderr };
    try {
      const state = task.parse(o.stdout);
      return { task, state, changes: task.diff(state) };
    } catch (e) {
      return { task, changes: [], error: `could not read probe output: ${errorMessage(e)}`, stderr };
    }
  });
}

async function applyTask(
  transport: Transport,
  p: Probed,
  guard: Guard | undefined,
): Promise<{ error: string; stderr?: string } | undefined> {
  const steps = p.task.apply(p.state, p.changes);
  // A refusal is data: the task fails with its reason before anything runs or is armed.
  const refused = steps.find((s) => s.refuse !== undefined);
  if (refused) return { error: 'refused (nothing was run)', stderr: refused.refuse };
  const deadman =
    p.task.rollback && guard
      ? await armDeadman(transport, guard, p.task.id, p.task.rollback(p.state))
      : undefined;
  for (const step of steps) {
    const r = await transport.exec(step.script, { stdin: step.stdin, timeoutMs: step.timeoutMs });
    if (r.code !== 0) {
      await deadman?.fire();
      return { error: `step exited ${r.code}`, stderr: tail(r.stderr || r.stdout) };
    }
  }
  if (deadman) return deadman.confirm();
  return undefined;
}

export function tail(text: string, lines = 8): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
