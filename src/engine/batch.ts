import { randomBytes } from 'node:crypto';

export interface ProbeOutput {
  stdout: string;
  code: number;
}

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Pure: every probe of a host as ONE script. Each runs in its own subshell with stdin closed and
 * is fenced by markers carrying a per-run nonce, so no probe output can forge another's section.
 */
export function batchScript(probes: readonly string[], nonce: string): string {
  const parts = probes.map(
    (p, i) =>
      `printf '@@infra:${nonce}:begin:${i}\\n'\nprintf '@@infra:${nonce}:probe:${i}\\n' >&2\n(\n${p}\n) </dev/null\nprintf '\\n@@infra:${nonce}:end:${i}:%d\\n' "$?"`,
  );
  return `${parts.join('\n')}\n`;
}

/** Pure: the batched stdout split back into one output per probe; a missing section is an error. */
export function splitBatch(stdout: string, count: number, nonce: string): ProbeOutput[] {
  const out: ProbeOutput[] = [];
  for (let i = 0; i < count; i++) {
    const begin = `@@infra:${nonce}:begin:${i}\n`;
    const start = stdout.indexOf(begin);
    const endRe = new RegExp(`\\n@@infra:${nonce}:end:${i}:(\\d+)\\n`);
    const tail = start < 0 ? null : endRe.exec(stdout.slice(start + begin.length));
    if (start < 0 || !tail) throw new Error(`probe ${i} produced no complete output section`);
    out.push({
      stdout: stdout.slice(start + begin.length, start + begin.length + tail.index),
      code: Number(tail[1]),
    });
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
