import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  atomicWrite,
  base64Output,
  contentProbe,
  fileProbe,
  parseContent,
  parseFileProbe,
  restoreFile,
  scratchDir,
  scratchFile,
  withStdinFile,
} from '../../../../src/tasks/lib/file.js';

// Each builder runs in a real dash (Debian's and Ubuntu's /bin/sh), on paths that need quoting.
const dash = (script: string, stdin = '') =>
  spawnSync('dash', ['-c', script], { input: stdin, encoding: 'utf8' });
const dir = () => mkdtempSync(path.join(tmpdir(), "infra lib 'x' "));
const HOSTILE = "it's $(touch /tmp/pwned) `id`\n\\n ünï\n";
const me = userInfo().username;
const modeOf = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('contentProbe / fileProbe', () => {
  it('read any content back byte for byte, and say MISSING for no file', () => {
    const d = dir();
    const f = path.join(d, 'a file.conf');
    writeFileSync(f, HOSTILE, { mode: 0o640 });
    expect(parseContent(dash(contentProbe(f)).stdout)).toBe(HOSTILE);
    expect(parseContent(dash(contentProbe(`${f}.none`)).stdout)).toBeNull();
    const s = parseFileProbe(execFileSync('dash', ['-c', fileProbe(f)], { encoding: 'utf8' }));
    expect(s).toEqual({ exists: true, mode: '640', owner: me, group: expect.any(String), content: HOSTILE });
    expect(parseFileProbe(dash(fileProbe(`${f}.none`)).stdout)).toEqual({ exists: false });
  });
});

describe('atomicWrite', () => {
  it('replaces from stdin with the mode asked, creating the directory, leaving no temp file', () => {
    const d = path.join(dir(), 'sub dir');
    const f = path.join(d, "it's.conf");
    const r = dash(atomicWrite({ path: f, mode: '600', owner: me, mkdir: '700' }), HOSTILE);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe(HOSTILE);
    expect(modeOf(f)).toBe('600');
    expect(modeOf(d)).toBe('700');
    expect(readdirSync(d)).toEqual(["it's.conf"]);
  });

  it('keeps the replaced file mode when asked', () => {
    const d = dir();
    const f = path.join(d, 'rules');
    writeFileSync(f, 'old', { mode: 0o640 });
    expect(dash(atomicWrite({ path: f, keepMode: true }), 'new').status).toBe(0);
    expect([readFileSync(f, 'utf8'), modeOf(f)]).toEqual(['new', '640']);
  });

  it('validates before replace: a rejected file leaves the target untouched and says why', () => {
    const d = dir();
    const f = path.join(d, 'config.yml');
    writeFileSync(f, 'good');
    const validate = {
      command: 'grep -q good "$tmp" || { echo "no good in it"; false; }',
      invalid: `${f} is unchanged`,
    };
    const bad = dash(atomicWrite({ path: f, mode: '644', validate }), 'bad');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`${f} is unchanged: no good in it\n`);
    expect(readFileSync(f, 'utf8')).toBe('good');
    expect(readdirSync(d)).toEqual(['config.yml']);
    expect(dash(atomicWrite({ path: f, mode: '644', validate }), 'good again').status).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe('good again');
  });

  it('a failing source (a download) leaves nothing and prints its error', () => {
    const d = dir();
    const f = path.join(d, 'key.asc');
    const r = dash(
      atomicWrite({
        path: f,
        mode: '644',
        source: 'echo 404 >&2; false',
        sourceFailed: 'could not download',
      }),
    );
    expect([r.status, r.stderr]).toEqual([1, 'could not download: 404\n']);
    expect(readdirSync(d)).toEqual([]);
  });

  it('an owner that does not exist fails before the rename', () => {
    const d = dir();
    const f = path.join(d, 'x');
    writeFileSync(f, 'old');
    expect(dash(atomicWrite({ path: f, mode: '644', owner: 'no-such-user-infra' }), 'new').status).toBe(1);
    expect(readdirSync(d)).toEqual(['x']);
    expect(readFileSync(f, 'utf8')).toBe('old');
  });

  it('with a backup, restore puts the old file back, or removes a file that was not there', () => {
    const d = dir();
    const f = path.join(d, '00-infra.conf');
    writeFileSync(f, 'old');
    const w = atomicWrite({ path: f, mode: '644', backup: true, as: 'f' });
    expect(dash(`${w}\n[ "$(cat "$f")" = new ] || exit 9\nrestore`, 'new').status).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe('old');
    expect(readdirSync(d)).toEqual(['00-infra.conf']);
    const g = path.join(d, 'fresh.conf');
    expect(dash(`${atomicWrite({ path: g, mode: '644', backup: true })}\nrestore`, 'new').status).toBe(0);
    expect(readdirSync(d)).toEqual(['00-infra.conf']);
    expect(dash(`${w}\nrm -f "$old"`, 'kept').status).toBe(0);
    expect(readdirSync(d)).toEqual(['00-infra.conf']);
    expect(readFileSync(f, 'utf8')).toBe('kept');
  });
});

describe('restoreFile', () => {
  it('puts the probed content back without stdin, or removes a file that did not exist', () => {
    const d = dir();
    const f = path.join(d, "user's.rules");
    writeFileSync(f, 'changed');
    expect(dash(restoreFile(f, HOSTILE)).status).toBe(0);
    expect(readFileSync(f, 'utf8')).toBe(HOSTILE);
    expect(dash(restoreFile(f, null)).status).toBe(0);
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('withStdinFile', () => {
  it('hands stdin to the command as a 0600 file, removed after, with the command exit code', () => {
    const d = dir();
    const r = dash(
      withStdinFile(
        `stat -c %a "$f"; cat "$f"; echo "$f" > ${JSON.stringify(path.join(d, 'name'))}; (exit 3)`,
        path.join(d, 'key'),
      ),
      'tskey-secret',
    );
    expect([r.status, r.stdout]).toEqual([3, '600\ntskey-secret']);
    expect(readdirSync(d)).toEqual(['name']);
  });
});

describe('scratchFile', () => {
  it('names a new private file (600 whatever the umask), one per variable', () => {
    const r = dash(
      `umask 022; ${scratchFile('h')}; ${scratchFile('j')}; stat -c %a "$h"; [ "$h" != "$j" ] && echo two; rm -f "$h" "$j"`,
    );
    expect([r.status, r.stdout]).toEqual([0, '600\ntwo\n']);
  });
});

describe('scratchDir', () => {
  it('names a new private directory (700 whatever the umask), under the prefix asked', () => {
    const d = dir();
    const r = dash(
      `umask 022; ${scratchDir('w', path.join(d, "drill 'x'"))}; ${scratchDir('t')}; stat -c %a "$w" "$t"; case "$w" in ${JSON.stringify(d)}/"drill 'x'".??????) echo under;; esac; rmdir "$w" "$t"`,
    );
    expect([r.status, r.stdout, r.stderr]).toEqual([0, '700\n700\nunder\n', '']);
  });
});

describe('base64Output', () => {
  it("carries a command's bytes as one line that base64 -d reads back whole", () => {
    const d = dir();
    const f = path.join(d, 'bin');
    const bytes = Buffer.from([0, 1, 255, 10, 13, 39, 36, 96, ...Buffer.from(HOSTILE)]);
    writeFileSync(f, bytes);
    const r = spawnSync('dash', ['-c', base64Output(`cat ${JSON.stringify(f)}`)], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('\n');
    const back = spawnSync('dash', ['-c', 'base64 -d'], { input: r.stdout });
    expect(Buffer.compare(back.stdout, bytes)).toBe(0);
  });
});
