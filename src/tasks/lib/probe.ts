import { type Probe, readsScript, type SharedRead, sharedReadsOf } from '../../engine/task.js';

/**
 * Probes as values that carry their shared reads: a builder over a shared read (docker-reads.ts)
 * returns a Probe, `probes()` joins parts and unions their reads, and `probeFields()` puts both
 * on the task. Using `$infra_containers` without declaring CONTAINERS no longer type-checks into
 * a task, because the only way to the script is through the value that also holds the read.
 */
export const probe = (script: string, reads: readonly SharedRead[] = []): Probe => ({ script, reads });

/** Parts joined line by line (strings are plain shell); the reads are the union of the parts'. */
export function probes(...parts: readonly (string | Probe)[]): Probe {
  const reads: SharedRead[] = [];
  for (const p of parts)
    if (typeof p !== 'string') for (const r of p.reads) if (!reads.includes(r)) reads.push(r);
  return { script: parts.map((p) => (typeof p === 'string' ? p : p.script)).join('\n'), reads };
}

/** The task fields of a probe: `{ id, ...probeFields(p), parse, … }`. */
export const probeFields = (p: Probe) => ({ probe: p.script, reads: p.reads });

/** For an apply step that polls outside the batch: the probe's reads set first, then its script. */
export const standalone = (p: Probe): string => `${readsScript(sharedReadsOf([p]))}\n${p.script}`;
