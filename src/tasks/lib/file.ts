import path from 'node:path';
import { shq } from '../../quote.js';

/**
 * The file idioms every task needs, as builders that take raw values and quote inside: a file's
 * content read back (base64, so any byte survives the trip), an atomic replace from stdin, and a
 * restore for rollbacks. The scripts are POSIX sh (dash), tested for real in
 * test/unit/tasks/lib/file.run.test.ts.
 */

/** Shell expression printing a file's content as one base64 line (no trailing newline). */
export const base64Of = (file: string) => `base64 -w0 < ${shq(file)}`;

/**
 * Shell: `command`'s whole output as one base64 line (no trailing newline), for bytes that must
 * cross the transport as text (a tar stream); `base64 -d` on the other side reads it back.
 */
export const base64Output = (command: string) => `${command} | base64 -w0`;

/** Pure: the inverse of `base64Of`. */
export const fromBase64 = (b64: string) => Buffer.from(b64.trim(), 'base64').toString('utf8');

/** Shell printing a file's content as one base64 line, or `MISSING`. */
export function contentProbe(file: string): string {
  return `if [ -f ${shq(file)} ]; then ${base64Of(file)}; echo; else echo MISSING; fi`;
}

/** Pure: `contentProbe`'s line back to the content; null for a missing file. */
export function parseContent(stdout: string): string | null {
  const raw = stdout.trim();
  return raw === 'MISSING' ? null : fromBase64(raw);
}

export type FileState =
  | { exists: false }
  | { exists: true; mode: string; owner: string; group: string; content: string };

/** Shell printing mode, owner and group (stat), then the content as `contentProbe` does; or MISSING. */
export function fileProbe(p: string): string {
  return `f=${shq(p)}\nif [ -f "$f" ]; then stat -c '%a %U %G' "$f"; base64 -w0 < "$f"; echo; else echo MISSING; fi`;
}

export function parseFileProbe(stdout: string): FileState {
  const [meta = '', b64 = ''] = stdout.split('\n');
  if (meta.trim() === 'MISSING') return { exists: false };
  const [mode, owner, group] = meta.trim().split(' ');
  if (!mode || !owner || !group) throw new Error(`unexpected stat output: ${meta}`);
  return { exists: true, mode, owner, group, content: fromBase64(b64) };
}

/**
 * Shell setting $tmp to a new empty file beside `target` (same filesystem, so a later
 * `mv -f "$tmp" target` is an atomic rename), or exiting 1. The caller removes it on failure.
 */
export function tempBeside(target: string, prefix = '.infra'): string {
  return `tmp=$(mktemp ${shq(`${path.posix.dirname(target)}/${prefix}.XXXXXX`)}) || exit 1`;
}

export interface AtomicWrite {
  path: string;
  /** Octal, as stat prints it: "644". Omitted with `keepMode`: the replaced file's mode is kept. */
  mode?: string;
  /** Keep the mode of the file being replaced (it must exist): `chmod --reference`. */
  keepMode?: boolean;
  /** "root" or "root:adm"; omitted: the temp file's (the user running the script). */
  owner?: string;
  /** `mkdir -p` the directory first; a mode ("700") is also set on it, existing or not. */
  mkdir?: true | string;
  /** The temp file's name prefix beside the target (dotted, so no glob like *.conf picks it up). */
  tempPrefix?: string;
  /** Shell that fills "$tmp"; default: stdin (`cat > "$tmp"`), so contents never sit in argv. */
  source?: string;
  /** Printed (with the source's error output) when the source fails. */
  sourceFailed?: string;
  /**
   * Validate before replace: shell run with "$tmp" holding the new content; when it fails, the
   * live file is untouched, and `invalid` is printed followed by the command's output.
   */
  validate?: { command: string; invalid: string };
  /**
   * Keep the previous content until the caller is satisfied: defines `restore` (the old file,
   * or no file, back) and leaves "$old", which the caller removes (`rm -f "$old"`) on success.
   * For checks that can only run against the installed file (`sshd -t`).
   */
  backup?: boolean;
  /** A shell variable set to the target, for what the caller appends: "f" gives "$f". */
  as?: string;
}

/**
 * An atomic replace: the new content goes to a temp file beside the target (same filesystem, so
 * the rename is atomic), gets its mode and owner, is validated if asked, then renamed over the
 * target. Any failure removes the temp file and exits 1 with the target as it was.
 */
export function atomicWrite(w: AtomicWrite): string {
  const dir = path.posix.dirname(w.path);
  const cleanup = w.backup ? 'rm -f "$tmp" "$old"' : 'rm -f "$tmp"';
  const failed = (message: string) =>
    `then ${cleanup}; printf '%s: %s\n' ${shq(message)} "$out" >&2; exit 1; fi`;
  const lines = w.as ? [`${w.as}=${shq(w.path)}`] : [];
  const target = w.as ? `"$${w.as}"` : shq(w.path);
  if (w.mkdir === true) lines.push(`mkdir -p ${shq(dir)}`);
  else if (w.mkdir) lines.push(`mkdir -p ${shq(dir)} && chmod ${shq(w.mkdir)} ${shq(dir)}`);
  if (w.backup)
    lines.push(
      `old=$(mktemp ${shq(`${dir}/.infra-old.XXXXXX`)}) || exit 1`,
      `had=no; if [ -f ${target} ]; then cp -p ${target} "$old" && had=yes; fi`,
      `restore() { if [ "$had" = yes ]; then mv -f "$old" ${target}; else rm -f ${target} "$old"; fi; }`,
    );
  lines.push(tempBeside(w.path, w.tempPrefix));
  const source = w.source ?? 'cat > "$tmp"';
  if (w.sourceFailed !== undefined) lines.push(`if ! out=$( { ${source}; } 2>&1); ${failed(w.sourceFailed)}`);
  const attrs = [
    ...(w.sourceFailed === undefined ? [source] : []),
    ...(w.mode ? [`chmod ${shq(w.mode)} "$tmp"`] : w.keepMode ? [`chmod --reference=${target} "$tmp"`] : []),
    ...(w.owner ? [`chown ${shq(w.owner)} "$tmp"`] : []),
  ];
  if (attrs.length) lines.push(`if ! { ${attrs.join(' && ')}; }; then ${cleanup}; exit 1; fi`);
  if (w.validate) lines.push(`if ! out=$( { ${w.validate.command}; } 2>&1); ${failed(w.validate.invalid)}`);
  lines.push(`mv -f "$tmp" ${target} || { ${cleanup}; exit 1; }`);
  return lines.join('\n');
}

/**
 * For a rollback (run by the dead-man switch, so it carries everything it needs): the probed
 * content, embedded as base64, back in place by a rename; or the file removed when it did not
 * exist. No stdin: the switch runs it from a timer.
 */
export function restoreFile(file: string, content: string | null): string {
  if (content === null) return `rm -f ${shq(file)}`;
  const b64 = Buffer.from(content).toString('base64');
  const tmp = shq(`${file}.infra-rollback`);
  return `printf '%s' ${shq(b64)} | base64 -d > ${tmp} && mv -f ${tmp} ${shq(file)}`;
}

/**
 * Shell setting the variable `name` to a new private scratch file (mode 600: mktemp creates
 * files u+rw only, coreutils' mktemp.c/gen_tempname), for what must never sit in argv: a header
 * with a key, a cookie jar. Not for a file that replaces another (`tempBeside`: same filesystem).
 * The caller removes it (`trap 'rm -f "$h"' EXIT`, or `rm -f` when done).
 */
export const scratchFile = (name: string) => `${name}=$(mktemp)`;

/**
 * Shell setting the variable `name` to a new private scratch directory (mode 700: mktemp -d
 * creates it u+rwx only), under $TMPDIR or /tmp, or as `prefix`.XXXXXX when given (a larger
 * disk: /var/tmp). The caller removes it (`trap 'rm -rf "$work"' EXIT`).
 */
export const scratchDir = (name: string, prefix?: string) =>
  `${name}=$(mktemp -d${prefix ? ` ${shq(`${prefix}.XXXXXX`)}` : ''})`;

/**
 * Runs `command` with $f naming a 0600 file on tmpfs that holds stdin (a key), removed whatever
 * the command returns; its exit code is the script's. For secrets a tool reads by path only.
 */
export function withStdinFile(command: string, prefix = '/run/infra-stdin'): string {
  return [
    'umask 077',
    `f=$(mktemp ${shq(`${prefix}.XXXXXX`)}) || exit 1`,
    'cat > "$f"',
    command,
    'rc=$?',
    'rm -f "$f"',
    'exit $rc',
  ].join('\n');
}
