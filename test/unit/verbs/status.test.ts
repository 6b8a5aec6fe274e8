import { describe, expect, it } from 'vitest';
import { parseDiskWarn } from '../../../src/commands/status.js';
import {
  type HostStatus,
  renderStatus,
  statusExitCode,
  statusJson,
  warningsOf,
} from '../../../src/report/status.js';
import { parseApp, parseDisks, parseFacts, parseSecurity } from '../../../src/tasks/host-status.js';

const FACTS = `os=Debian GNU/Linux 13 (trixie)
kernel=6.12.48+deb13-amd64
uptime=93784.51
reboot=yes
rebootpkgs=linux-image-6.12.57+deb13-amd64 libc6 
tailnet=100.77.0.11
mem.MemTotal=4000000
`;

describe('status: parsing', () => {
  it('facts: os, kernel, uptime, reboot and the packages asking for it, tailnet, memory', () => {
    const f = parseFacts(`${FACTS}mem.MemAvailable=1000000\nmem.SwapTotal=0\nmem.SwapFree=0\n`);
    expect(f).toEqual({
      os: 'Debian GNU/Linux 13 (trixie)',
      kernel: '6.12.48+deb13-amd64',
      uptimeSec: 93785,
      rebootRequired: true,
      rebootPackages: ['linux-image-6.12.57+deb13-amd64', 'libc6'],
      tailnet: '100.77.0.11',
      memory: { totalBytes: 4096000000, availableBytes: 1024000000, usedPercent: 75, swapTotalBytes: 0 },
    });
    expect(parseFacts('reboot=no\n')).toMatchObject({
      rebootRequired: false,
      tailnet: undefined,
      memory: undefined,
    });
  });

  it('security: the -security Inst lines, deduplicated; no apt is unknown, not zero', () => {
    expect(parseSecurity('lists=1767225600\npkg=perl\npkg=libperl5.36\npkg=perl\n')).toEqual({
      known: true,
      packages: ['perl', 'libperl5.36'],
      listsAt: 1767225600,
    });
    expect(parseSecurity('lists=\n')).toEqual({ known: true, packages: [], listsAt: undefined });
    expect(parseSecurity('noapt\n')).toEqual({ known: false, packages: [] });
  });

  it('disks: df -P in KiB, percent as df rounds it, warn at the threshold', () => {
    const d = parseDisks(
      '/ / 1000 850 150\n/var/lib/docker / 1000 850 150\n/var/backups/infra /srv 100 10 90\nnonsense\n',
      85,
    );
    expect(d.map((x) => [x.path, x.mount, x.usedPercent, x.warn])).toEqual([
      ['/', '/', 85, true],
      ['/var/lib/docker', '/', 85, true],
      ['/var/backups/infra', '/srv', 10, false],
    ]);
    expect(d[0]).toMatchObject({ sizeBytes: 1024000, usedBytes: 870400, availableBytes: 153600 });
    expect(parseDisks('/ / 1000 851 149\n', 87)[0]!.warn).toBe(false);
  });

  it('apps: version with spaces, size, newest backup and its staleness; an error when psql does not answer', () => {
    const app = {
      name: 'beanstock',
      host: 'hornbill',
      postgres: 18,
      backupRetentionDays: 14,
      controlRetentionDays: 60,
    };
    const now = 1_767_225_600;
    const a = parseApp(
      app,
      `pg=7654321 18.1 (Debian 18.1-1.pgdg13+1)\nbeanstock-20260101T000000Z.dump 10 ${now - 7200} yes\nbeanstock-20251231T000000Z.dump 10 ${now - 90000} yes\n`,
      now,
    );
    expect(a.postgres).toEqual({ want: 18, version: '18.1 (Debian 18.1-1.pgdg13+1)' });
    expect(a.databaseBytes).toBe(7654321);
    expect(a.lastBackup).toEqual({
      name: 'beanstock-20260101T000000Z.dump',
      at: '2025-12-31T22:00:00.000Z',
      ageSec: 7200,
      stale: false,
    });
    expect(a.backups).toBe(2);
    const down = parseApp(app, 'pgerr=service "db" is not running\n', now);
    expect(down.postgres).toEqual({ want: 18, error: 'service "db" is not running' });
    expect(down.lastBackup).toBeUndefined();
  });

  it('--disk-warn: 1 to 100, else one clear line', () => {
    expect(parseDiskWarn(undefined)).toBe(85);
    expect(parseDiskWarn('5')).toBe(5);
    for (const bad of ['0', '101', 'x', '85%', '-1']) expect(() => parseDiskWarn(bad)).toThrow(/--disk-warn/);
  });
});

describe('status: warnings, exit code, output', () => {
  const host = (over: Partial<HostStatus>): HostStatus => ({
    name: 'hornbill',
    role: 'apps',
    status: 'ok',
    addresses: { public: '10.77.0.11', tailnet: '100.77.0.11' },
    via: 'tailnet 100.77.0.11',
    facts: parseFacts('os=Debian 13\nkernel=6.12\nuptime=60\nreboot=no\n'),
    security: { known: true, packages: [] },
    disks: parseDisks('/ / 1000 100 900\n', 85),
    apps: [],
    stacks: [{ name: 'alloy', healthy: true, problems: [] }],
    warnings: [],
    durationMs: 10,
    stats: { connections: 1, execs: 1 },
    ...over,
  });

  it('flags reboot, disks, security, stale or missing backups and unhealthy stacks', () => {
    expect(warningsOf(host({}))).toEqual([]);
    const bad = host({
      facts: parseFacts('reboot=yes\nrebootpkgs=libc6\n'),
      security: { known: true, packages: ['openssl'] },
      disks: parseDisks('/ / 1000 900 100\n', 85),
      apps: [{ name: 'beanstock', postgres: { want: 18, version: '18.1' }, backups: 0, backupsDir: '/x' }],
      stacks: [
        { name: 'glitchtip', healthy: false, problems: ['stack glitchtip service web is not healthy'] },
      ],
    });
    expect(warningsOf(bad)).toEqual([
      'reboot required (libc6)',
      '1 security upgrade(s) pending: openssl',
      'disk / 90% used (100.0 KiB free)',
      'app beanstock: no backup yet',
      'stack glitchtip service web is not healthy',
    ]);
  });

  it('exit 0 all well, 2 something flagged, 1 a host not read', () => {
    expect(statusExitCode([host({})])).toBe(0);
    expect(statusExitCode([host({}), host({ status: 'warn' })])).toBe(2);
    expect(statusExitCode([host({ status: 'warn' }), host({ status: 'unreachable' })])).toBe(1);
  });

  it('renders one block per host; JSON counts per status', () => {
    const lines = renderStatus(
      [host({}), host({ name: 'toucan', status: 'unreachable', facts: undefined, error: 'no SSH path' })],
      85,
    );
    expect(lines[0]).toBe('hornbill  apps  public 10.77.0.11  tailnet 100.77.0.11  (via tailnet)');
    expect(lines).toContain('  reboot    not required');
    expect(lines.some((l) => /^ {2}disk {6}\/ +10% of/.test(l))).toBe(true);
    expect(lines).toContain('  unreachableno SSH path');
    const doc = statusJson([host({}), host({ status: 'warn' })], 85);
    expect(doc.summary).toEqual({ hosts: 2, ok: 1, warn: 1, unreachable: 0, error: 0 });
  });
});
