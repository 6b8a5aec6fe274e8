import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shCmd, shq } from '../../src/quote.js';

// Executed by a real dash: Debian's and Ubuntu's /bin/sh, where bash-only $'…' quoting breaks.
const dash = (script: string) => execFileSync('dash', ['-c', script], { encoding: 'utf8' });

const hostile = [
  "it's",
  "'",
  "''",
  '"double"',
  '$(touch /tmp/pwned)',
  '`id`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a hostile literal, not a template
  '${HOME}',
  'a\nb\nc',
  'tab\there',
  'back\\slash',
  '; rm -rf / #',
  'x;rm -rf /',
  '&& echo no',
  '| cat',
  '*',
  '~',
  '-n',
  '',
  ' leading and trailing ',
  'üñïçødé ✓ 日本',
  "$'\\x41'",
  '\\',
  '!history',
];

describe('shq', () => {
  it.each(hostile)('round-trips %j through dash unchanged', (value) => {
    expect(dash(`printf '%s' ${shq(value)}`)).toBe(value);
  });

  it('keeps safe words bare and readable', () => {
    expect(shq('/etc/ssh/sshd_config.d/00-infra.conf')).toBe('/etc/ssh/sshd_config.d/00-infra.conf');
    expect(shq(443)).toBe('443');
  });

  it('never emits bash-only $-quoting', () => {
    for (const v of hostile) expect(shq(v).startsWith('$')).toBe(false);
  });

  it('quotes every element of an argument vector', () => {
    expect(dash(`for a in ${shCmd(['a b', "c'd", '$(x)'])}; do printf '[%s]' "$a"; done`)).toBe(
      "[a b][c'd][$(x)]",
    );
  });
});
