import { randomBytes } from 'node:crypto';
import { type BatchRead, readsScript } from './task.js';

// The read protocol is part of the Task contract (task.ts); re-exported for the engine's callers.
export { readsScript, sharedReadsOf } from './task.js';

export interface ProbeOutput {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * How many of a host's probes run at once. Probes only read, and most of their time is a CLI
 * starting up or a socket answering, so overlapping them shortens the round trip on any server
 * with more than one core (and still overlaps the waiting on one that has a single core).
 */
export const PROBE_LANES = 4;

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Pure: every probe of a host as ONE script. The shared reads run first, once each, into their
 * shell variables (stdin closed, stderr dropped: a probe reading an empty variable reports what
 * is missing). Then the probes run in lanes, at once; each probe runs in its own subshell with
 * stdin closed, and its section (stdout, exit code, stderr) is fenced by markers carrying a
 * per-run nonce, so no probe output can forge another's section.
 */
export function batchScript(
  probes: readonly string[],
  nonce: string,
  reads: readonly BatchRead[] = [],
  lanes = PROBE_LANES,
): string {
  const prelude = reads.length ? `${readsScript(reads)}\n` : '';
  const count = Math.max(1, Math.min(lanes, probes.length));
  const byLane = Array.from({ length: count }, (_, lane) =>
    probes
      .map((p, i) => (i % count === lane ? probeSection(p, i, nonce) : ''))
      .filter(Boolean)
      .join('\n'),
  );
  return `${prelude}${inLanes(byLane)}\n`;
}

/** One probe's section: its stdout goes straight out (fd 3); its stderr is held and follows it. */
function probeSection(probe: string, i: number, nonce: string): string {
  const m = `@@infra:${nonce}`;
  return [
    `printf '${m}:begin:${i}\\n'`,
    `infra_err=$( {\n${probe}\n} </dev/null 2>&1 1>&3 3>&- )`,
    `printf '\\n${m}:stderr:${i}:%d\\n%s\\n${m}:end:${i}\\n' "$?" "$infra_err"`,
  ].join('\n');
}

/**
 * Lanes that run at once and still print whole: the first lane writes straight out in the
 * background while the others, nested the same way, are held in a variable and printed after it.
 */
function inLanes(lanes: readonly string[]): string {
  const [first, ...rest] = lanes;
  const lane = `{\n${first || ':'}\n} 3>&1`; // `{ }` with nothing inside is a syntax error
  if (!rest.length) return lane;
  return `${lane} &\ninfra_lanes=$(\n${inLanes(rest)}\nprintf x\n)\nwait\nprintf '%s' "\${infra_lanes%x}"`;
}

/**
 * Pure: the batched stdout split back into one output per probe, found by index (lanes print
 * their sections lane by lane, not in probe order); a missing section is an error.
 */
export function splitBatch(stdout: string, count: number, nonce: string): ProbeOutput[] {
  const m = `@@infra:${nonce}:`;
  const out: ProbeOutput[] = [];
  for (let i = 0; i < count; i++) {
    const begin = `${m}begin:${i}\n`;
    const errMarker = `\n${m}stderr:${i}:`;
    const endMarker = `\n${m}end:${i}\n`;
    const start = stdout.indexOf(begin);
    const mid = start < 0 ? -1 : stdout.indexOf(errMarker, start + begin.length);
    const codeEnd = mid < 0 ? -1 : stdout.indexOf('\n', mid + errMarker.length);
    const end = codeEnd < 0 ? -1 : stdout.indexOf(endMarker, codeEnd);
    const code = codeEnd < 0 ? '' : stdout.slice(mid + errMarker.length, codeEnd);
    if (end < 0 || !/^\d+$/.test(code)) throw new Error(`probe ${i} produced no complete output section`);
    out.push({
      stdout: stdout.slice(start + begin.length, mid),
      stderr: stdout.slice(codeEnd + 1, end),
      code: Number(code),
    });
  }
  return out;
}
