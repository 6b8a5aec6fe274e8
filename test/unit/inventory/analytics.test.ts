import { describe, expect, it } from 'vitest';
import { analyticsSettings, durationSec } from '../../../src/inventory/analytics.js';
import { formatProblem, parseInventoryText } from '../../../src/inventory/parse.js';

const BASE = `tailscale:
  auth_key: env:TS_AUTHKEY
firewall:
  allow:
    - interface: tailscale0
hosts:
  toucan:
    role: control
    address: 127.0.0.1
  hornbill:
    role: apps
    address: 127.0.0.2
apps:
  xhosa:
    host: hornbill
    postgres: 16
  beanstock:
    host: hornbill
    postgres: 18
`;

const withAnalytics = (body: string) => `${BASE}analytics:\n${body}`;
function problems(text: string): string[] {
  const r = parseInventoryText(text);
  return r.ok ? [] : r.problems.map((p) => formatProblem('inventory.yaml', p));
}

describe('analytics in the inventory', () => {
  it('defaults: the control host, every app, PostgreSQL 18, 05:30, 60 s', () => {
    const r = parseInventoryText(withAnalytics('  mode: nightly\n'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(analyticsSettings(r.doc)).toEqual({
      mode: 'nightly',
      host: 'toucan',
      apps: ['xhosa', 'beanstock'],
      postgres: 18,
      syncTime: '05:30',
      lagThresholdSec: 60,
      metabase: { adminEmail: undefined },
    });
  });

  it('given values are kept', () => {
    const r = parseInventoryText(
      withAnalytics(
        '  mode: replication\n  host: hornbill\n  apps: [beanstock]\n  lag_threshold: 5m\n  metabase:\n    admin_email: ops@example.com\n',
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const s = analyticsSettings(r.doc)!;
    expect([s.host, s.apps, s.lagThresholdSec, s.metabase.adminEmail]).toEqual([
      'hornbill',
      ['beanstock'],
      300,
      'ops@example.com',
    ]);
  });

  it('an unknown mode is one located line', () => {
    expect(problems(withAnalytics('  mode: hourly\n'))).toEqual([
      'inventory.yaml:21:9  analytics.mode: expected one of direct, nightly, replication',
    ]);
  });

  it('an app that is not in the inventory, and one listed twice', () => {
    expect(problems(withAnalytics('  mode: nightly\n  apps: [xhosa, docflw, xhosa]\n'))).toEqual([
      'inventory.yaml:22:17  analytics.apps.1: "docflw" is not an app of this inventory (apps: xhosa, beanstock)',
      'inventory.yaml:22:25  analytics.apps.2: xhosa is listed twice',
    ]);
  });

  it('a major lower than an included app refuses, naming the app', () => {
    expect(problems(withAnalytics('  mode: nightly\n  postgres: 17\n'))).toEqual([
      "inventory.yaml:22:13  analytics.postgres: 17 is lower than beanstock's 18 (a dump of 18 does not restore into 17, nor does 17 subscribe to it reliably): set 18 or higher",
    ]);
    // Without beanstock, 16 is enough for xhosa.
    expect(problems(withAnalytics('  mode: nightly\n  apps: [xhosa]\n  postgres: 16\n'))).toEqual([]);
  });

  it('per-mode settings only in their mode', () => {
    expect(problems(withAnalytics('  mode: replication\n  sync_time: "05:30"\n'))).toEqual([
      'inventory.yaml:22:14  analytics.sync_time: only for mode nightly (mode is replication): remove it',
    ]);
    expect(problems(withAnalytics('  mode: nightly\n  lag_threshold: 60s\n'))).toEqual([
      'inventory.yaml:22:18  analytics.lag_threshold: only for mode replication (mode is nightly): remove it',
    ]);
    expect(problems(withAnalytics('  mode: nightly\n  sync_time: "25:00"\n'))).toEqual([
      'inventory.yaml:22:14  analytics.sync_time: expected a time of day HH:MM like 05:30',
    ]);
  });

  it('nightly on another host than the control host is refused in v1, saying why', () => {
    expect(problems(withAnalytics('  mode: nightly\n  host: hornbill\n'))).toEqual([
      'inventory.yaml:22:9  analytics.host: hornbill is not the control host toucan: mode nightly restores the copies the control host pulls (/var/backups/infra-copies), so it runs there (leave host out)',
    ]);
    expect(problems(withAnalytics('  mode: direct\n  host: nohost\n'))).toEqual([
      'inventory.yaml:22:9  analytics.host: no host named nohost (hosts: toucan, hornbill)',
    ]);
  });

  it('unknown keys and a bad email are located', () => {
    expect(
      problems(withAnalytics('  mode: nightly\n  metabase:\n    admin_email: nope\n  extra: 1\n')),
    ).toEqual([
      'inventory.yaml:23:18  analytics.metabase.admin_email: expected an email address like ops@example.com',
      'inventory.yaml:24:3  analytics.extra: unknown key',
    ]);
  });

  it('durations', () => {
    expect([durationSec('60s'), durationSec('5m'), durationSec('1h'), durationSec('x')]).toEqual([
      60,
      300,
      3600,
      Number.NaN,
    ]);
  });
});
