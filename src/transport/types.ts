export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Bytes for the remote command's stdin: how secrets and file contents travel (never argv). */
  stdin?: string;
  timeoutMs?: number;
}

/** A remote command kept running (the host lock): its output so far and a way to end it. */
export interface Held {
  /** Resolves with stdout once `predicate` matches it, or rejects when the command ends first. */
  waitFor(predicate: (stdout: string) => boolean, timeoutMs: number): Promise<string>;
  release(): Promise<void>;
}

/** One connection to one host, reused for every command of a run. */
export interface Transport {
  /** e.g. root@10.77.0.11:22 (public) — for messages. */
  readonly label: string;
  /** Runs a POSIX sh script as root (via `sudo -n` for other users) and returns its exit code. */
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;
  hold(script: string): Promise<Held>;
  close(): Promise<void>;
  readonly stats: { connections: number; execs: number };
}
