import { describe, expect, it } from 'vitest';
import { timerUnit } from '../../../../src/tasks/lib/systemd.js';

describe('timerUnit', () => {
  it('a calendar time, a random delay, made up at boot when missed', () => {
    expect(
      timerUnit({ description: 'nightly copy', onCalendar: '*-*-* 04:30:00', randomizedDelay: '15m' }),
    ).toBe(
      `# Installed by infra.
[Unit]
Description=infra: nightly copy

[Timer]
OnCalendar=*-*-* 04:30:00
RandomizedDelaySec=15m
Persistent=true

[Install]
WantedBy=timers.target
`,
    );
  });

  it('no random delay when none is asked (a time the operator chose)', () => {
    const u = timerUnit({ description: 'sync', onCalendar: '*-*-* 05:30:00' });
    expect(u).not.toContain('RandomizedDelaySec');
    expect(u).toContain('OnCalendar=*-*-* 05:30:00\nPersistent=true\n');
  });
});
