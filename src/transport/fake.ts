import type { ExecOptions, ExecResult, Held, Transport } from './types.js';

export type FakeHandler = (script: string, stdin: string | undefined) => ExecResult | Promise<ExecResult>;

/** For unit tests of the engine: maps a command to canned output and records every call. */
export class FakeTransport implements Transport {
  readonly calls: { script: string; stdin?: string }[] = [];
  readonly stats = { connections: 1, execs: 0 };
  closed = false;
  constructor(
    readonly label: string,
    private readonly handler: FakeHandler,
    private readonly delayMs = 0,
  ) {}

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.stats.execs++;
    this.calls.push({ script, stdin: opts.stdin });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    return this.handler(script, opts.stdin);
  }

  async hold(script: string): Promise<Held> {
    const r = await this.exec(script);
    return { waitFor: async () => r.stdout, release: async () => {} };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
