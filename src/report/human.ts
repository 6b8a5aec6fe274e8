import chalk from 'chalk';
import type { EngineEvent, HostResult, Mode, TaskResult, TaskStatus } from '../engine/events.js';
import { countStatuses } from '../engine/events.js';
import { waitMessage } from '../engine/task.js';
import type { Output } from './output.js';
import { statusLine } from './status-line.js';

const pad = (s: string, n: number) => s.padEnd(n);
const indent = (text: string, by = '    ') =>
  text
    .split('\n')
    .map((l) => by + l)
    .join('\n');

function colorDiff(diff: string): string {
  return diff
    .split('\n')
    .map((l) =>
      l.startsWith('+') && !l.startsWith('+++')
        ? chalk.green(l)
        : l.startsWith('-') && !l.startsWith('---')
          ? chalk.red(l)
          : l.startsWith('@@')
            ? chalk.cyan(l)
            : l,
    )
    .join('\n');
}

const STATUS_WORD: Record<TaskStatus, (s: string) => string> = {
  changed: chalk.yellow,
  drift: chalk.yellow,
  failed: chalk.red,
  // Not run for another task's failure or wait: named once per cause, not counted as failed.
  skipped: chalk.magenta,
  waiting: chalk.cyan,
  ok: chalk.green,
};

/** Skipped tasks grouped by why (the same root cause reads the same), in order of appearance. */
function byReason(skipped: TaskResult[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const t of skipped) {
    const why = t.error ?? 'not run';
    groups.set(why, [...(groups.get(why) ?? []), t.task]);
  }
  return groups;
}

/** Human lines: one per changed/drifted/failed task (ok ones with -v), diffs, stderr tails, a recap. */
export class HumanReporter {
  private readonly running = new Set<string>();
  /** The progress line, rebuilt only when a host starts or finishes (not on each of its tasks). */
  private progress = '';
  /** Skipped tasks per host, printed as one line per cause when the host is done. */
  private readonly skipped = new Map<string, TaskResult[]>();
  private width = 8;
  constructor(
    private readonly out: Output,
    private readonly mode: Mode,
    private readonly verbose = false,
  ) {}

  hosts(names: string[]): void {
    this.width = Math.max(8, ...names.map((n) => n.length)) + 2;
  }

  handle = (e: EngineEvent): void => {
    switch (e.type) {
      case 'host-start':
        this.running.add(e.host);
        this.progress = statusLine(this.running);
        break;
      case 'host-connected':
        if (e.hostKeyRecorded)
          this.print(`${pad(e.host, this.width)}new host key pinned: ${e.hostKeyRecorded} (via ${e.via})`);
        else if (this.verbose) this.print(`${pad(e.host, this.width)}connected via ${e.via}`);
        break;
      case 'note':
        this.print(`${pad(e.host, this.width)}${e.message}`);
        break;
      case 'task':
        this.task(e.host, e.result);
        break;
      case 'facts':
      case 'warning': // the caller prints them with the inventory's, before the recap
        break;
      case 'host-done':
        this.running.delete(e.result.host);
        this.progress = statusLine(this.running);
        this.flushSkipped(e.result.host);
        if (e.result.error) this.hostError(e.result);
        break;
      default: {
        // A new event type must be handled here: this fails to compile until it is.
        const unhandled: never = e;
        throw new Error(`unhandled engine event ${JSON.stringify(unhandled)}`);
      }
    }
    this.out.status(this.progress);
  };

  private print(text: string): void {
    this.out.clearStatus();
    this.out.line(text);
  }

  private task(host: string, r: TaskResult): void {
    if (r.status === 'ok' && !this.verbose) return;
    if (r.status === 'skipped') {
      this.skipped.set(host, [...(this.skipped.get(host) ?? []), r]);
      return;
    }
    if (r.status === 'waiting' && r.wait) {
      // What it waits to do, or why: a failed login, a server whose host left the inventory.
      this.print(
        [
          `${pad(host, this.width)}${STATUS_WORD.waiting(pad('waiting', 8))}${r.task}: ${waitMessage(r.wait)}`,
          ...r.changes.map((c) => `    - ${c.summary}`),
        ].join('\n'),
      );
      return;
    }
    const word =
      this.mode !== 'apply' && r.status === 'drift' ? (this.mode === 'plan' ? 'would' : 'drift') : r.status;
    const head = `${pad(host, this.width)}${STATUS_WORD[r.status]!(pad(word, 8))}${r.task}`;
    const lines = [r.changes.length === 1 && !r.error ? `${head}: ${r.changes[0]!.summary}` : head];
    if (r.changes.length > 1 || r.error) for (const c of r.changes) lines.push(`    - ${c.summary}`);
    for (const c of r.changes) if (c.diff) lines.push(indent(colorDiff(c.diff)));
    if (r.error) lines.push(`    ${chalk.red(r.error)}`);
    if (r.stderr) lines.push(indent(chalk.dim(r.stderr), '    │ '));
    this.print(lines.join('\n'));
  }

  /** One line per cause: `skipped ufw, ufw:docker, … — not run: sshd failed`; -v adds what each would change. */
  private flushSkipped(host: string): void {
    const list = this.skipped.get(host) ?? [];
    this.skipped.delete(host);
    for (const [why, ids] of byReason(list)) {
      const lines = [
        `${pad(host, this.width)}${STATUS_WORD.skipped(pad('skipped', 8))}${ids.join(', ')} — ${why}`,
      ];
      if (this.verbose)
        for (const t of list.filter((x) => ids.includes(x.task)))
          for (const c of t.changes) lines.push(`    - ${t.task}: ${c.summary}`);
      this.print(lines.join('\n'));
    }
  }

  private hostError(r: HostResult): void {
    const word = r.status === 'unreachable' ? 'unreachable' : 'failed';
    this.print(
      `${pad(r.host, this.width)}${chalk.red(word)}: ${r.error}${r.hint ? `\n${' '.repeat(this.width)}hint: ${r.hint}` : ''}`,
    );
  }

  recap(results: HostResult[]): void {
    this.out.clearStatus();
    this.out.line();
    // A big fleet's check reads as its exceptions: the hosts in sync are one line (-v: one each).
    const quiet = (r: HostResult) => r.status === 'ok' && !leftOf(r).length;
    const folded =
      this.mode === 'check' && !this.verbose && results.length > RECAP_EACH_MAX ? results.filter(quiet) : [];
    for (const r of results) {
      if (folded.includes(r)) continue;
      const c = countStatuses(r.tasks);
      const secs = `${(r.durationMs / 1000).toFixed(1)}s`;
      if (r.status === 'unreachable') {
        this.out.line(`${pad(r.host, this.width)}${chalk.red('unreachable')}   ${secs}`);
        continue;
      }
      // Failed, skipped and waiting are counted apart: one refusal must not read as 32 failures.
      const middle =
        this.mode === 'apply'
          ? `changed ${c.changed}  failed ${c.failed}  skipped ${c.skipped}`
          : `${this.mode === 'plan' ? 'pending' : 'drift'} ${c.drift}  failed ${c.failed}`;
      const waiting = c.waiting ? `  waiting ${c.waiting}` : '';
      const fix =
        this.mode === 'check' && r.status === 'drift' ? chalk.dim(`   fix: infra apply ${r.host}`) : '';
      const verdict = this.mode === 'check' && r.status === 'ok' ? chalk.green('in sync  ') : '';
      this.out.line(`${pad(r.host, this.width)}${verdict}ok ${c.ok}  ${middle}${waiting}   ${secs}${fix}`);
      for (const left of leftOf(r)) this.out.line(`${' '.repeat(this.width)}${chalk.dim(`left: ${left}`)}`);
    }
    if (folded.length) {
      const names = folded.map((r) => r.host);
      const shown = names.length > 4 ? `${names.slice(0, 3).join(', ')} … ${names.at(-1)}` : names.join(', ');
      this.out.line(
        `${chalk.green('in sync')}: ${folded.length} of ${results.length} hosts (${shown}; -v lists each)`,
      );
    }
  }
}

/** Up to this many hosts, the check recap has one line per host; above it, in-sync hosts fold into one. */
export const RECAP_EACH_MAX = 10;

/** What a host still needs after this run, one line per root cause: a wait, or a failure skips hang on. */
export function leftOf(r: HostResult): string[] {
  const lines: string[] = [];
  const skippedFor = (id: string) => r.tasks.filter((t) => t.status === 'skipped' && t.cause === id).length;
  const more = (n: number) => (n ? ` (${n} skipped task${n === 1 ? '' : 's'} wait on it)` : '');
  for (const t of r.tasks) {
    if (t.status === 'waiting' && t.wait)
      lines.push(`${t.task} is ${waitMessage(t.wait)}${more(skippedFor(t.task))}`);
    else if (t.status === 'failed' && skippedFor(t.task))
      lines.push(`fix ${t.task}${more(skippedFor(t.task))}`);
  }
  return lines;
}
