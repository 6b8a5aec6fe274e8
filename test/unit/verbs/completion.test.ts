import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { complete, completionScript, inventoryNames } from '../../../src/commands/completion.js';

// A tree shaped like cli.ts's (the real one is exercised by the bash test on the built CLI).
const program = new Command('infra').option('-i, --inventory <file>').option('--lab');
program.command('status').argument('[hosts...]').option('--json').option('--disk-warn <percent>');
program.command('ssh').argument('<host>').argument('[command...]');
program.command('run').argument('<target>').argument('<command...>').option('--timeout <seconds>');
program.command('logs').argument('<target>').option('-f, --follow').option('--host <host>');
program.command('backup').argument('<name>');
program.command('add-app').argument('<name>').option('--host <host>');
program.command('completion').argument('<shell>');
program.command('__complete', { hidden: true });
const db = program.command('db');
db.command('url').argument('<name>');

const names = (file?: string) =>
  file === 'other.yaml'
    ? { hosts: ['kite'], apps: [], roles: ['apps'] }
    : { hosts: ['toucan', 'hornbill'], apps: ['beanstock', 'xhosa'], roles: ['control', 'apps'] };
const c = (line: string) => complete(program, line, names);

describe('completion: candidates', () => {
  it.each([
    ['infra ', ['add-app', 'backup', 'completion', 'db', 'logs', 'run', 'ssh', 'status']],
    ['infra st', ['status']],
    ['infra status ', ['hornbill', 'toucan']],
    ['infra status toucan h', ['hornbill']],
    ['infra status --', ['--disk-warn', '--help', '--inventory', '--json', '--lab']],
    ['infra --lab ssh h', ['hornbill']],
    ['infra -i other.yaml ssh ', ['kite']],
    ['infra --inventory=other.yaml ssh ', ['kite']],
    ['infra ssh hornbill ', []],
    ['infra run ', ['all', 'hornbill', 'role:apps', 'role:control', 'toucan']],
    ['infra run role:a', ['role:apps']],
    ['infra logs ', ['beanstock', 'xhosa']],
    ['infra logs beanstock --host ', ['hornbill', 'toucan']],
    ['infra backup x', ['xhosa']],
    ['infra add-app ', []],
    ['infra add-app new --host t', ['toucan']],
    ['infra db ', ['url']],
    ['infra db url ', ['beanstock', 'xhosa']],
    ['infra completion ', ['bash', 'fish', 'zsh']],
    ['infra -i ', []],
  ])('%j', (line, want) => expect(c(line)).toEqual(want));

  it('reads names from an inventory without validating it, and never throws', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-names-'));
    const file = path.join(dir, 'inventory.yaml');
    writeFileSync(
      file,
      'hosts:\n  a: {role: apps}\n  b: {role: control, colour: red}\napps:\n  z: {host: a}\n',
    );
    expect(inventoryNames(file)).toEqual({ hosts: ['a', 'b'], apps: ['z'], roles: ['apps', 'control'] });
    expect(inventoryNames(path.join(dir, 'missing.yaml'))).toEqual({ hosts: [], apps: [], roles: [] });
    writeFileSync(file, 'hosts: [unclosed');
    expect(inventoryNames(file)).toEqual({ hosts: [], apps: [], roles: [] });
  });

  it('a script per shell; an unknown shell is one clear line', () => {
    expect(completionScript('bash')).toContain('complete -o default -F _infra_complete infra');
    expect(completionScript('zsh')).toContain('compdef _infra infra');
    expect(completionScript('fish')).toContain("complete -c infra -f -a '(__infra_complete)'");
    expect(() => completionScript('tcsh')).toThrow(/no completion for shell "tcsh"/);
  });
});
