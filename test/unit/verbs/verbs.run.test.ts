import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shq } from '../../../src/quote.js';
import { renderRunResult } from '../../../src/report/run.js';

describe('run: the command reaches /bin/sh as one argument', () => {
  // What the SSH transport sends (src/transport/ssh.ts wraps every script as `sh -c 'SCRIPT'`),
  // executed by a real dash, so nothing of the operator's string is split or expanded here.
  const asSent = (cmd: string) => execFileSync('dash', ['-c', `sh -c ${shq(cmd)}`], { encoding: 'utf8' });
  it.each([
    ['echo "$((1+1))"', '2\n'],
    [`printf '%s|' "it's" '$HOME'`, "it's|$HOME|"],
    ['echo a  b | tr -d " "', 'ab\n'],
    ['x=1; [ "$x" = 1 ] && echo yes', 'yes\n'],
  ])('%s', (cmd, out) => expect(asSent(cmd)).toBe(out));

  it('output is grouped under a header with the exit code', () => {
    expect(
      renderRunResult({ host: 'kite', code: 3, stdout: 'a\nb\n', stderr: 'oops\n', durationMs: 1234 }),
    ).toEqual(['── kite (exit 3, 1.2s)', 'a', 'b', 'stderr: oops']);
    expect(
      renderRunResult({
        host: 'kite',
        code: null,
        stdout: '',
        stderr: '',
        error: 'no SSH path',
        durationMs: 0,
      }),
    ).toEqual(['── kite (failed: no SSH path, 0.0s)']);
  });
});
