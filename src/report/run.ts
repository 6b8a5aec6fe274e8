/** One host's answer to `infra run`: `code` null when the command never ran (see `error`). */
export interface RunResult {
  host: string;
  via?: string;
  code: number | null;
  stdout: string;
  stderr: string;
  error?: string;
  durationMs: number;
}

/** Pure: a header naming the host and how it ended, then its output, stdout then stderr. */
export function renderRunResult(r: RunResult): string[] {
  const how = r.code === null ? `failed: ${r.error}` : `exit ${r.code}`;
  const lines = [`── ${r.host} (${how}, ${(r.durationMs / 1000).toFixed(1)}s)`];
  const body = (text: string, prefix: string) =>
    text.length
      ? text
          .replace(/\n$/, '')
          .split('\n')
          .map((l) => `${prefix}${l}`)
      : [];
  lines.push(...body(r.stdout, ''), ...body(r.stderr, 'stderr: '));
  return lines;
}

export function runJson(command: string, results: readonly RunResult[]) {
  return {
    version: 1 as const,
    mode: 'run' as const,
    command,
    hosts: results,
    summary: {
      hosts: results.length,
      ok: results.filter((r) => r.code === 0).length,
      failed: results.filter((r) => r.code !== 0).length,
    },
  };
}
