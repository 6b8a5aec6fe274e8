/**
 * The one POSIX quoting function. Remote `/bin/sh` is dash on Debian and Ubuntu, which has no
 * `$'…'` quoting (zx's quote() emits it), so every value is wrapped in single quotes and each
 * embedded single quote becomes '\'' — valid in every POSIX shell, for any byte sequence.
 */
export function shq(value: string | number): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** An argument vector rendered as one shell command line, every element quoted. */
export function shCmd(argv: readonly (string | number)[]): string {
  return argv.map(shq).join(' ');
}
