import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { describe, expect, it } from 'vitest';

/**
 * The completion scripts in real shells, against the built CLI (like startup.test.ts) and the
 * repository's inventory (only its names are read; nothing is contacted).
 */
const REPO = path.resolve(import.meta.dirname, '../../..');
const INVENTORY = path.join(REPO, 'inventory.yaml');

/** A PATH whose `infra` is this checkout's CLI, as an installed one would be. */
function infraOnPath(): string {
  const bin = mkdtempSync(path.join(tmpdir(), 'infra-completion-'));
  writeFileSync(path.join(bin, 'infra'), `#!/bin/sh\nexec node ${path.join(REPO, 'bin/infra.js')} "$@"\n`);
  chmodSync(path.join(bin, 'infra'), 0o755);
  return `${bin}:${process.env.PATH}`;
}
const has = (shell: string) =>
  execaSync('sh', ['-c', `command -v ${shell}`], { reject: false }).exitCode === 0;

describe('completion', () => {
  it('the bash script loads and completes a host name from the inventory', async () => {
    const script = [
      'source <(infra completion bash)',
      'complete -p infra',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
      'try() { COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$1"; COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _infra_complete; echo "$1 => ${COMPREPLY[*]}"; }',
      'try "infra ssh hor"',
      'try "infra st"',
      'try "infra backup bean"',
    ].join('\n');
    const r = await execa('bash', ['-c', script], {
      env: { PATH: infraOnPath(), INFRA_INVENTORY: INVENTORY },
      reject: false,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      'complete -o default -F _infra_complete infra',
      'infra ssh hor => hornbill',
      'infra st => status',
      'infra backup bean => beanstock',
    ]);
  });

  // zsh and fish are not on every machine (CI installs only what the suite needs): checked where present.
  it.skipIf(!has('fish'))('fish: the script loads and completes a host name', async () => {
    const r = await execa(
      'fish',
      ['-c', 'infra completion fish | source; complete -C "infra ssh hor"; complete -C "infra run role:a"'],
      {
        env: { PATH: infraOnPath(), INFRA_INVENTORY: INVENTORY },
        reject: false,
      },
    );
    expect(r.stdout.split('\n')).toEqual(['hornbill', 'role:apps']);
  });

  it.skipIf(!has('zsh'))('zsh: the script parses and registers with compinit', async () => {
    const r = await execa(
      'zsh',
      ['-f', '-c', 'autoload -U compinit; compinit -u; source <(infra completion zsh); print $_comps[infra]'],
      {
        env: { PATH: infraOnPath(), INFRA_INVENTORY: INVENTORY },
        reject: false,
      },
    );
    expect(r.stdout.trim(), r.stderr).toBe('_infra');
  });
});
