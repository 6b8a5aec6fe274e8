import { describe, expect, it } from 'vitest';
import {
  aptSourceTask,
  cloudflaredSource,
  dockerSource,
  parseAptSource,
  tailscaleSource,
} from '../../../src/tasks/apt-source.js';
import { parseOsRelease } from '../../../src/tasks/os-release.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const probe = (os: string, codename: string, key: boolean, list: string | null) =>
  `@@os\nos=${os}\ncodename=${codename}\narch=amd64\n@@files\nkey=${key ? 'yes' : 'no'}\nlist=${list === null ? 'MISSING' : b64(list)}\n`;

describe('os-release', () => {
  it.each([
    ['debian', 'trixie'],
    ['debian', 'bookworm'],
    ['ubuntu', 'jammy'],
    ['ubuntu', 'noble'],
  ])('%s %s is supported', (os, codename) => {
    expect(parseOsRelease(`os=${os}\ncodename=${codename}\narch=arm64\n`)).toEqual({
      os,
      codename,
      arch: 'arm64',
    });
  });
  it.each([
    ['os=debian\ncodename=bullseye\n', /unsupported OS debian bullseye/],
    ['os=fedora\ncodename=\n', /unsupported OS fedora \?/],
    ['', /unsupported OS \? \?/],
  ])('refuses %j', (out, msg) => {
    expect(() => parseOsRelease(out)).toThrow(msg);
  });
});

describe('apt-source', () => {
  const ts = tailscaleSource('https://pkgs.tailscale.com/stable');
  const tsLine = (os: string, c: string) =>
    `deb [signed-by=/usr/share/keyrings/tailscale-archive-keyring.gpg] https://pkgs.tailscale.com/stable/${os} ${c} main\n`;
  it.each([
    ['fresh Debian 13', probe('debian', 'trixie', false, null), ['key-missing', 'source-missing']],
    ['converged Debian 13', probe('debian', 'trixie', true, tsLine('debian', 'trixie')), []],
    ['converged Ubuntu 24.04', probe('ubuntu', 'noble', true, tsLine('ubuntu', 'noble')), []],
    ['key deleted', probe('debian', 'trixie', false, tsLine('debian', 'trixie')), ['key-missing']],
    [
      'list of another release',
      probe('debian', 'trixie', true, tsLine('debian', 'bookworm')),
      ['source-content'],
    ],
    ['list edited by hand', probe('ubuntu', 'jammy', true, '# nothing\n'), ['source-content']],
  ])('tailscale: %s', (_n, out, kinds) => {
    const t = aptSourceTask(ts, ['packages:base']);
    expect(t.diff(t.parse(out)).map((c) => c.kind)).toEqual(kinds);
  });

  it('uses the real layouts: Tailscale per codename, Cloudflare `any`, Docker per distribution', () => {
    const os = parseOsRelease('os=ubuntu\ncodename=noble\narch=arm64\n');
    expect(ts.keyUrl(os)).toBe('https://pkgs.tailscale.com/stable/ubuntu/noble.noarmor.gpg');
    const cf = cloudflaredSource('https://pkg.cloudflare.com');
    expect(cf.keyUrl(os)).toBe('https://pkg.cloudflare.com/cloudflare-main.gpg');
    expect(cf.listLine(os)).toBe(
      'deb [signed-by=/usr/share/keyrings/cloudflare-main.gpg] https://pkg.cloudflare.com/cloudflared any main',
    );
    const dk = dockerSource('https://download.docker.com/linux');
    expect(dk.keyUrl(os)).toBe('https://download.docker.com/linux/ubuntu/gpg');
    expect(dk.listLine(os)).toBe(
      'deb [arch=arm64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu noble stable',
    );
  });

  it('apply downloads the key to a temp file and renames it; every value is quoted', () => {
    const evil = aptSourceTask(tailscaleSource("http://10.77.0.2:8099/it's"));
    const s = parseAptSource(probe('debian', 'trixie', false, null));
    const [step] = evil.apply(s, evil.diff(s));
    expect(step!.script).toContain(`'http://10.77.0.2:8099/it'\\''s/debian/trixie.noarmor.gpg'`);
    expect(step!.script.indexOf('curl')).toBeLessThan(
      step!.script.indexOf('mv -f "$tmp" /usr/share/keyrings'),
    );
    expect(step!.script).toContain('[ ! -s "$tmp" ]');
  });

  it('apply leaves an existing key alone and rewrites only the list', () => {
    const t = aptSourceTask(ts);
    const s = parseAptSource(probe('debian', 'trixie', true, null));
    expect(t.apply(s, t.diff(s))[0]!.script).not.toContain('curl');
  });

  it('an unsupported release fails the probe with a clear message', () => {
    expect(() => parseAptSource(probe('debian', 'bullseye', false, null))).toThrow(/unsupported OS/);
  });
});
