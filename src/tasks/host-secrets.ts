import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { chownToImageUser, generateOnce } from './lib/secret.js';

/**
 * A secret file of a stack, made on the host and never leaving it except through
 * `infra secrets show`. Generated ones are random and created once: a re-run never rotates them.
 * Derived ones (a database URL holding a generated password) are rewritten from their sources
 * when they no longer match.
 */
export interface SecretFile {
  /** File name in the stack directory; also the compose secret name. */
  name: string;
  /** The container user that must read it: the image's default user, or a named one. */
  readBy: { image: string; user?: string };
  /** Derived: a printf format with one %s per source file's content. */
  from?: { format: string; sources: string[] };
  /** Generated with at least one digit (a password rule such as Metabase's default complexity). */
  requireDigit?: boolean;
}

export interface SecretFileState {
  name: string;
  /** stat's octal mode, or null when the file is missing or empty. */
  mode: string | null;
  /** Derived files: whether the content matches the sources. */
  stale: boolean;
}

// `.env`: compose's project env file, for a value no `_FILE` variable can carry (tasks/metabase.ts).
const NAME = /^([a-z][a-z0-9_]*|\.env)$/;

function check(files: readonly SecretFile[]): void {
  for (const f of files) if (!NAME.test(f.name)) throw new Error(`bad secret file name ${f.name}`);
}

/** The shell expression that renders a derived file from its sources (values are [A-Za-z0-9]). */
function derive(dir: string, f: SecretFile): string {
  const { format, sources } = f.from!;
  return `printf ${shq(format)} ${sources.map((s) => `"$(cat ${shq(`${dir}/${s}`)})"`).join(' ')}`;
}

export function secretsProbe(dir: string, files: readonly SecretFile[]): string {
  check(files);
  return files
    .map((f) => {
      const p = shq(`${dir}/${f.name}`);
      const stale = f.from
        ? `; if [ "$(cat ${p})" = "$(${derive(dir, f)})" ]; then echo ok; else echo stale; fi`
        : '; echo ok';
      return `printf '%s ' ${f.name}; if [ -s ${p} ]; then printf '%s ' "$(stat -c %a ${p})"${stale}; else echo missing; fi`;
    })
    .join('\n');
}

export function parseSecrets(stdout: string): SecretFileState[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w[0])
    .map(([name = '', mode = 'missing', st]) => ({
      name,
      mode: mode === 'missing' ? null : mode,
      stale: st === 'stale',
    }));
}

export function diffSecrets(stack: string, dir: string, files: readonly SecretFile[], st: SecretFileState[]) {
  const changes: Change[] = [];
  for (const f of files) {
    const s = st.find((x) => x.name === f.name);
    const path = `${dir}/${f.name}`;
    if (!s || s.mode === null)
      changes.push({
        summary: `${f.from ? 'write' : 'generate'} ${f.name} of stack ${stack} (once, on the host, mode 600)`,
        kind: 'secret-missing',
        expected: path,
        actual: null,
      });
    else {
      if (s.stale)
        changes.push({
          summary: `rewrite ${path} from ${f.from!.sources.join(', ')} (it no longer matches)`,
          kind: 'secret-stale',
        });
      if (s.mode !== '600')
        changes.push({
          summary: `chmod 600 ${path} (was ${s.mode})`,
          kind: 'file-mode',
          expected: '600',
          actual: s.mode,
        });
    }
  }
  return changes;
}

/**
 * Generates what is missing (never what exists), derives, then gives each file to the uid that
 * reads it in its container (the image is asked: stand-ins and real images may differ), 0600.
 */
export function secretsScript(dir: string, files: readonly SecretFile[]): string {
  check(files);
  const d = shq(dir);
  const lines = ['set -e', `mkdir -p ${d} && chmod 700 ${d}`, 'umask 077'];
  for (const f of files.filter((x) => !x.from)) {
    const p = `${dir}/${f.name}`;
    // A file without a digit (about 1 in 4,000 draws) is drawn again; an existing one with a digit stays.
    if (f.requireDigit)
      lines.push(
        `while ! grep -q '[0-9]' ${shq(p)} 2>/dev/null; do rm -f ${shq(p)}; ${generateOnce(p, 48)}; done`,
      );
    else lines.push(generateOnce(p, 48));
  }
  for (const f of files.filter((x) => x.from)) {
    const p = shq(`${dir}/${f.name}`);
    lines.push(`${derive(dir, f)} > ${p}.tmp && mv -f ${p}.tmp ${p}`);
  }
  for (const f of files) lines.push(chownToImageUser(`${dir}/${f.name}`, f.readBy.image, f.readBy.user));
  return lines.join('\n');
}

/**
 * Idempotency limit: the owner is set when a file is written or its mode fixed, not probed
 * (knowing the image's uid needs the image); a chown by hand shows up as the service failing.
 */
export function hostSecretsTask(
  want: { stack: string; dir: string; files: readonly SecretFile[] },
  after: string[] = [],
): Task<SecretFileState[]> {
  const { stack, dir, files } = want;
  return {
    id: `stack:${stack}:secrets`,
    after,
    probe: secretsProbe(dir, files),
    parse: parseSecrets,
    diff: (st) => diffSecrets(stack, dir, files, st),
    apply: () => [{ script: secretsScript(dir, files), timeoutMs: 15 * 60_000 }],
  };
}
