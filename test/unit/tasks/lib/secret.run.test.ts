import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chownToImageUser, generateOnce } from '../../../../src/tasks/lib/secret.js';
import { fakeTools } from '../../fake-tools.js';

const dash = (script: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('dash', ['-c', script], { encoding: 'utf8', env });

describe('generateOnce', () => {
  it('writes length [A-Za-z0-9] characters, 0600, once; an existing secret is kept', () => {
    const d = mkdtempSync(path.join(tmpdir(), "infra secret 'x' "));
    const f = path.join(d, 'db password');
    expect(dash(generateOnce(f, 40)).status).toBe(0);
    const first = readFileSync(f, 'utf8');
    expect(first).toMatch(/^[A-Za-z0-9]{40}$/);
    expect((statSync(f).mode & 0o777).toString(8)).toBe('600');
    expect(dash(generateOnce(f, 40)).status).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe(first);
    writeFileSync(f, '');
    dash(generateOnce(f, 48));
    expect(readFileSync(f, 'utf8')).toMatch(/^[A-Za-z0-9]{48}$/);
  });
});

describe('chownToImageUser', () => {
  it("asks the image for its user's ids and gives the file to them, 0600", () => {
    const t = fakeTools('infra-chown-');
    t.fake('docker', 'echo "$(id -u):$(id -g)"');
    const f = path.join(t.dir, "pw 'file'");
    writeFileSync(f, 'x', { mode: 0o644 });
    const env = { ...process.env, PATH: `${t.bin}:${process.env.PATH}` };
    const r = dash(chownToImageUser(f, 'postgres:16-bookworm', 'postgres'), env);
    expect(r.status, r.stderr).toBe(0);
    expect((statSync(f).mode & 0o777).toString(8)).toBe('600');
    expect(t.calls()).toEqual([
      `docker run --rm -q --entrypoint sh postgres:16-bookworm -c echo "$(id -u postgres):$(id -g postgres)"`,
    ]);
  });
});
