import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// These run the bundle (dist/, built on demand by test/setup/build.ts), as an operator runs infra.
/** Runs `infra ...args` and reports on stderr whether ssh2 was loaded by the time it exited. */
function probe(args: string[]) {
  const cli = path.resolve('dist/cli.js');
  const code = `import {createRequire} from 'node:module';const req=createRequire(import.meta.url);process.argv=['node','infra',...${JSON.stringify(args)}];process.on('exit',()=>process.stderr.write('ssh2='+Object.keys(req.cache).some(k=>k.includes('/ssh2/'))));await import(${JSON.stringify(cli)});`;
  return spawnSync('node', ['--input-type=module', '-e', code], { encoding: 'utf8' });
}

// `infra --help` must stay light: command modules (and ssh2 with them) load only when a command runs.
describe('start-up', () => {
  it('infra --help does not load ssh2', () => {
    const r = probe(['--help']);
    expect(r.stdout).toContain('Usage: infra');
    expect(r.stderr).toBe('ssh2=false');
  });

  it('infra --version prints the version of package.json, without loading ssh2', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const r = probe([flag]);
      expect(r.stdout).toBe(`${version}\n`);
      expect(r.stderr).toBe('ssh2=false');
      expect(r.status).toBe(0);
    }
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
