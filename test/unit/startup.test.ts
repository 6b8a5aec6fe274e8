import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// `infra --help` must stay light: command modules (and ssh2 with them) load only when a command runs.
describe('start-up', () => {
  it('infra --help does not load ssh2', () => {
    const cli = path.resolve('dist/cli.js');
    const probe = `import {createRequire} from 'node:module';const req=createRequire(import.meta.url);process.argv=['node','infra','--help'];process.on('exit',()=>process.stderr.write('ssh2='+Object.keys(req.cache).some(k=>k.includes('/ssh2/'))));await import(${JSON.stringify(cli)});`;
    const r = spawnSync('node', ['--input-type=module', '-e', probe], { encoding: 'utf8' });
    expect(r.stdout).toContain('Usage: infra');
    expect(r.stderr).toBe('ssh2=false');
  });

  it('every command has examples in its help', () => {
    for (const cmd of [
      ['apply'],
      ['check'],
      ['bootstrap'],
      ['inventory', 'validate'],
      ['lab', 'up'],
      ['status'],
      ['ssh'],
      ['run'],
      ['logs'],
      ['completion'],
    ]) {
      const out = execFileSync('node', ['bin/infra.js', ...cmd, '--help'], { encoding: 'utf8' });
      expect(out, cmd.join(' ')).toContain('Examples:');
    }
  });
});
