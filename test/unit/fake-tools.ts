import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A directory of stand-in commands (docker, systemctl, …) for running probes for real in dash:
 * each logs its argv to calls.log and runs the given sh body. Put `bin` first on PATH.
 */
export function fakeTools(prefix: string) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  const log = path.join(dir, 'calls.log');
  writeFileSync(log, '');
  return {
    dir,
    bin,
    fake(name: string, body: string) {
      writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${log}\n${body}\n`);
      chmodSync(path.join(bin, name), 0o755);
    },
    calls: () => readFileSync(log, 'utf8').trim().split('\n'),
    clearCalls: () => writeFileSync(log, ''),
  };
}
