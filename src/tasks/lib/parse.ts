/** Generic probe-output parsers: every probe prints lines a pure function can cut, with no shell here. */

/** Pure: `key=value` lines into a map (first value wins; blank and foreign lines ignored). */
export function keyValues(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([a-z0-9_]+)=(.*)$/.exec(line.trim());
    if (m && !out.has(m[1]!)) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** Pure: a probe's stdout cut into sections by `@@name` marker lines. */
export function sections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let name = '';
  let lines: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^@@([a-z0-9-]+)$/.exec(line);
    if (m) {
      if (name) out.set(name, lines.join('\n'));
      name = m[1]!;
      lines = [];
    } else lines.push(line);
  }
  if (name) out.set(name, lines.join('\n'));
  return out;
}

/**
 * A task's probe and parse over several apps of a host: each app's probe under its `@@APP` line;
 * an app whose section is missing parses as `down` (its stack is not running).
 */
export function perApp<S>(
  apps: readonly string[],
  probe: (app: string) => string,
  parse: (out: string) => S,
) {
  return {
    // `true` for no app: an empty probe would leave the batch's braces empty (a shell syntax error).
    probe: apps.map((a) => `echo '@@${a}'\n${probe(a)}`).join('\n') || 'true',
    parse: (out: string): Record<string, S> => {
      const b = sections(out);
      return Object.fromEntries(apps.map((a) => [a, parse(b.get(a) ?? 'down')]));
    },
  };
}
