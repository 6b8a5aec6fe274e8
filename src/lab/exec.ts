import { execa } from 'execa';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

/** Runs a command and returns its result whatever the exit code; callers judge the code. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await execa(cmd, args, {
    reject: false,
    input: opts.input,
    timeout: opts.timeoutMs,
    env: opts.env,
    cwd: opts.cwd,
    stripFinalNewline: true,
  });
  if (r.failed && r.exitCode === undefined) {
    throw new Error(`${cmd} could not run: ${r.shortMessage}`);
  }
  return { code: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Runs a command that must succeed; the error carries the command and the tail of its stderr. */
export async function must(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const tail = (r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n');
    throw new Error(`${cmd} ${args.slice(0, 4).join(' ')} failed (exit ${r.code}): ${tail}`);
  }
  return r.stdout;
}

export const docker = (args: string[], opts?: RunOptions) => must('docker', args, opts);
export const dockerTry = (args: string[], opts?: RunOptions) => run('docker', args, opts);

/** `docker exec` of a POSIX shell snippet inside a lab container. */
export function dexec(container: string, script: string, opts?: RunOptions): Promise<RunResult> {
  return run('docker', ['exec', '-i', container, 'sh', '-c', script], opts);
}

export async function imageExists(ref: string): Promise<boolean> {
  return (await dockerTry(['image', 'inspect', '--format', '{{.Id}}', ref])).code === 0;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
