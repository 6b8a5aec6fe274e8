import { describe, expect, it } from 'vitest';
import { diffFile, writeFileScript } from '../../../src/tasks/file.js';
import { hostnameTask } from '../../../src/tasks/hostname.js';
import { parseFileProbe } from '../../../src/tasks/lib/file.js';
import { missingPackages, packagesTask, parseDpkgStatus } from '../../../src/tasks/packages.js';
import { diffService, parseServiceProbe } from '../../../src/tasks/service.js';
import { parseTimezone, timezoneTask } from '../../../src/tasks/timezone.js';

describe('packages', () => {
  const wanted = ['curl', 'tzdata', 'ufw'];
  it.each([
    ['nothing installed', '', ['curl', 'tzdata', 'ufw']],
    ['all installed', 'curl ii \ntzdata ii \nufw ii \n', []],
    ['one removed but configs kept (rc)', 'curl ii \ntzdata ii \nufw rc \n', ['ufw']],
    ['multi-arch names', 'curl:amd64 ii \ntzdata ii \n', ['ufw']],
    ['half-installed counts as missing', 'curl iH \ntzdata ii \nufw ii \n', ['curl']],
  ])('%s', (_n, out, missing) => {
    expect(missingPackages(parseDpkgStatus(out, wanted))).toEqual(missing);
  });
  it('diff names what is missing; apply installs only that, non-interactively', () => {
    const t = packagesTask({ set: 'base', names: wanted });
    const state = t.parse('curl ii \n');
    expect(t.diff(state)).toEqual([
      { summary: 'install tzdata, ufw', kind: 'package-missing', expected: ['tzdata', 'ufw'], actual: null },
    ]);
    const [step] = t.apply(state, t.diff(state));
    expect(step!.script).toContain('DEBIAN_FRONTEND=noninteractive');
    expect(step!.script).toMatch(/--no-install-recommends tzdata ufw$/);
  });
});

describe('file', () => {
  const want = { path: '/etc/x.conf', content: 'a=1\n', mode: '644' };
  const probe = (meta: string, content: string) => `${meta}\n${Buffer.from(content).toString('base64')}\n`;
  it.each([
    ['missing', 'MISSING\n', ['create /etc/x.conf (mode 644)']],
    ['in sync', probe('644 root root', 'a=1\n'), []],
    ['content differs', probe('644 root root', 'a=2\n'), ['update /etc/x.conf']],
    ['mode differs', probe('666 root root', 'a=1\n'), ['chmod 644 /etc/x.conf (was 666)']],
    [
      'owner differs',
      probe('644 www-data root', 'a=1\n'),
      ['chown root:root /etc/x.conf (was www-data:root)'],
    ],
  ])('%s', (_n, out, summaries) => {
    expect(diffFile(want, parseFileProbe(out)).map((c) => c.summary)).toEqual(summaries);
  });
  it('shows a unified diff of the content', () => {
    const [c] = diffFile(want, parseFileProbe(probe('644 root root', 'a=2\n')));
    expect(c!.diff).toBe('--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,1 +1,1 @@\n-a=2\n+a=1');
  });
  it('hides the content of sensitive files', () => {
    const [c] = diffFile({ ...want, sensitive: true }, parseFileProbe(probe('600 root root', 'old-token')));
    expect(c!.diff).toBeUndefined();
    expect(c!.summary).toContain('content hidden');
  });
  it('writes atomically: temp file beside the target, then rename; content only on stdin', () => {
    const script = writeFileScript({ ...want, path: "/etc/it's here.conf" });
    expect(script).toContain(`f='/etc/it'\\''s here.conf'`);
    expect(script.indexOf('cat > "$tmp"')).toBeLessThan(script.indexOf('mv -f "$tmp" "$f"'));
    expect(script).not.toContain('a=1');
  });
});

describe('service', () => {
  it.each([
    // `systemctl show` prints the properties in its own order, not the order asked.
    ['enabled and running', 'ActiveState=active\nUnitFileState=enabled\n', []],
    ['stopped', 'UnitFileState=enabled\nActiveState=inactive\n', ['start ssh.service (is inactive)']],
    ['disabled', 'ActiveState=active\nUnitFileState=disabled\n', ['enable ssh.service (is disabled)']],
    [
      'not installed yet',
      'ActiveState=inactive\nUnitFileState=\n',
      ['enable ssh.service (is not-found)', 'start ssh.service (is inactive)'],
    ],
    ['systemd not answering', '', ['enable ssh.service (is not-found)', 'start ssh.service (is unknown)']],
    ['failed', 'ActiveState=failed\nUnitFileState=enabled\n', ['start ssh.service (is failed)']],
  ])('%s', (_n, out, summaries) => {
    expect(diffService('ssh.service', parseServiceProbe(out)).map((c) => c.summary)).toEqual(summaries);
  });
});

describe('timezone and hostname', () => {
  it.each([
    ['/usr/share/zoneinfo/Europe/Berlin\n', 'Europe/Berlin'],
    ['/usr/share/zoneinfo/Etc/UTC\n', 'Etc/UTC'],
    ['', 'unset'],
  ])('reads %j as %s', (out, zone) => {
    expect(parseTimezone(out)).toBe(zone);
  });
  it('changes only a different zone', () => {
    const t = timezoneTask('Europe/Berlin');
    expect(t.diff('Europe/Berlin')).toEqual([]);
    expect(t.diff('Etc/UTC')[0]!.summary).toBe('set timezone Europe/Berlin (was Etc/UTC)');
  });
  it('hostname: file and running name must both match', () => {
    const t = hostnameTask('hornbill');
    expect(t.diff(t.parse('hornbill\n\nhornbill\n'))).toEqual([]);
    expect(t.diff(t.parse('localhost\n\nlocalhost\n'))[0]!.summary).toBe(
      'set hostname hornbill (was localhost)',
    );
  });
});
