import type { Redactor } from '../secrets.js';

/** The one door to the terminal: every line passes the redactor on its way out. */
export class Output {
  /** What the status line shows now: an unchanged line is not written again on every event. */
  #shown = '';
  constructor(
    readonly redactor: Redactor,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}
  line(text = ''): void {
    this.stdout.write(`${this.redactor.redact(text)}\n`);
  }
  error(text: string): void {
    this.stderr.write(`${this.redactor.redact(text)}\n`);
  }
  /** Live progress: only on a TTY, rewritten in place, erased before the next real line. */
  status(text: string): void {
    if (!(this.stderr as NodeJS.WriteStream).isTTY || text === this.#shown) return;
    this.#shown = text;
    this.stderr.write(`\r\x1b[2K${this.redactor.redact(text)}`);
  }
  clearStatus(): void {
    if (!(this.stderr as NodeJS.WriteStream).isTTY) return;
    this.#shown = '';
    this.stderr.write('\r\x1b[2K');
  }
}
