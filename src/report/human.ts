import chalk from 'chalk';
import type { EngineEvent, HostResult, Mode, TaskResult } from '../engine/events.js';
import { countStatuses } from '../engine/events.js';
import type { Output } from './output.js';

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

const STATUS_WORD: Record<string, (s: string) => string> = {
  changed: chalk.yellow,
  drift: chalk.yellow,
  failed: chalk.red,
  skipped: chalk.red,
  ok: chalk.green,
};

/** Human lines: one per changed/drifted/failed task (ok ones with -v), diffs, stderr tails, a recap. */
export class HumanReporter {
  private readonly running = new Set<string>();
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
      case 'host-done':
        this.running.delete(e.result.host);
        if (e.result.error) this.hostError(e.result);
        break;
    }
    this.out.status(this.running.size ? `working on ${[...this.running].join(', ')} …` : '');
  };

  private print(text: string): void {
    this.out.clearStatus();
    this.out.line(text);
  }

  private task(host: string, r: TaskResult): void {
    if (r.status === 'ok' && !this.verbose) return;
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

  private hostError(r: HostResult): void {
    const word = r.status === 'unreachable' ? 'unreachable' : 'failed';
    this.print(
      `${pad(r.host, this.width)}${chalk.red(word)}: ${r.error}${r.hint ? `\n${' '.repeat(this.width)}hint: ${r.hint}` : ''}`,
    );
  }

  recap(results: HostResult[]): void {
    this.out.clearStatus();
    this.out.line();
    for (const r of results) {
      const c = countStatuses(r.tasks);
      const secs = `${(r.durationMs / 1000).toFixed(1)}s`;
      if (r.status === 'unreachable') {
        this.out.line(`${pad(r.host, this.width)}${chalk.red('unreachable')}   ${secs}`);
        continue;
      }
      const middle =
        this.mode === 'apply'
          ? `changed ${c.changed}  failed ${c.failed + c.skipped}`
          : `${this.mode === 'plan' ? 'pending' : 'drift'} ${c.drift}  failed ${c.failed}`;
      const fix =
        this.mode === 'check' && r.status === 'drift' ? chalk.dim(`   fix: infra apply ${r.host}`) : '';
      const verdict = this.mode === 'check' && r.status === 'ok' ? chalk.green('in sync  ') : '';
      this.out.line(`${pad(r.host, this.width)}${verdict}ok ${c.ok}  ${middle}   ${secs}${fix}`);
    }
  }
}
