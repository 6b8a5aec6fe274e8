import { randomBytes } from 'node:crypto';
import type { BatchRead, SharedRead } from './task.js';

export interface ProbeOutput {
  stdout: string;
  code: number;
}

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Pure: every probe of a host as ONE script. The shared reads run first, once each, into their
 * shell variables (stdin closed, stderr dropped: a probe reading an empty variable reports what
 * is missing). Each probe runs in its own subshell with stdin closed and is fenced by markers
 * carrying a per-run nonce, so no probe output can forge another's section.
 */
export function batchScript(
  probes: readonly string[],
  nonce: string,
  reads: readonly BatchRead[] = [],
): string {
  const prelude = reads.length ? `${readsScript(reads)}\n` : '';
  const parts = probes.map(
    (p, i) =>
      `printf '@@infra:${nonce}:begin:${i}\\n'\nprintf '@@infra:${nonce}:probe:${i}\\n' >&2\n(\n${p}\n) </dev/null\nprintf '\\n@@infra:${nonce}:end:${i}:%d\\n' "$?"`,
  );
  return `${prelude}${parts.join('\n')}\n`;
}

/** Shell that sets each read's variable, in order (also for apply steps that poll outside a batch). */
export function readsScript(reads: readonly BatchRead[]): string {
  return reads.map((r) => `${r.name}=$( (\n${r.script}\n) </dev/null 2>/dev/null )`).join('\n');
}

/**
 * Pure: the shared reads of these tasks, each once, every read after the reads it uses; a
 * gathering read is built from the union of every task's args (sorted, so the script is stable).
 */
export function sharedReadsOf(tasks: readonly { reads?: readonly SharedRead[] }[]): BatchRead[] {
  const order: string[] = [];
  const byName = new Map<string, { read: SharedRead; args: Set<string> }>();
  const add = (r: SharedRead) => {
    const seen = byName.get(r.name);
    if (seen && seen.read.script !== r.script) throw new Error(`two shared reads named ${r.name}`);
    for (const dep of r.reads ?? []) add(dep);
    if (!seen) {
      byName.set(r.name, { read: r, args: new Set(r.args) });
      order.push(r.name);
    } else for (const a of r.args ?? []) seen.args.add(a);
  };
  for (const t of tasks) for (const r of t.reads ?? []) add(r);
  return order.map((name) => {
    const { read, args } = byName.get(name)!;
    return { name, script: typeof read.script === 'string' ? read.script : read.script([...args].sort()) };
  });
}

/** Pure: the batched stdout split back into one output per probe; a missing section is an error. */
export function splitBatch(stdout: string, count: number, nonce: string): ProbeOutput[] {
  // One pass from left to right: sections come in order, so each search starts where the last ended.
  const out: ProbeOutput[] = [];
  let from = 0;
  for (let i = 0; i < count; i++) {
    const begin = `@@infra:${nonce}:begin:${i}\n`;
    const start = stdout.indexOf(begin, from);
    const endMarker = `\n@@infra:${nonce}:end:${i}:`;
    const end = start < 0 ? -1 : stdout.indexOf(endMarker, start + begin.length);
    const codeEnd = end < 0 ? -1 : stdout.indexOf('\n', end + endMarker.length);
    const code = codeEnd < 0 ? '' : stdout.slice(end + endMarker.length, codeEnd);
    if (start < 0 || end < 0 || !/^\d+$/.test(code))
      throw new Error(`probe ${i} produced no complete output section`);
    out.push({ stdout: stdout.slice(start + begin.length, end), code: Number(code) });
    from = codeEnd;
  }
  return out;
}

/** The stderr lines a given probe wrote (its section of the batch's stderr). */
export function stderrOf(stderr: string, index: number, nonce: string): string {
  const marker = `@@infra:${nonce}:probe:${index}\n`;
  const start = stderr.indexOf(marker);
  if (start < 0) return '';
  const rest = stderr.slice(start + marker.length);
  const next = rest.indexOf(`@@infra:${nonce}:probe:`);
  return next < 0 ? rest : rest.slice(0, next);
}
