import { describe, expect, it } from 'vitest';
import { walServiceUnit } from '../../../src/tasks/pitr.js';
import { diffGap, parseGap, recoverScript } from '../../../src/tasks/pitr-gap.js';

describe('a gap in the WAL archive', () => {
  const SEG = '000000010000000000000007';

  it('check reports the gap; apply sets the archive aside, drops the slot, streams anew, backs up at once', () => {
    expect(parseGap('none')).toEqual({ gap: null });
    expect(diffGap('beanstock', parseGap('none'))).toEqual([]);
    const found = diffGap('beanstock', parseGap(`${SEG} 2026-12-05T22:00:00Z\n`));
    expect(found.map((c) => c.kind)).toEqual(['pitr-gap']);
    expect(found[0]!.summary).toContain(`gap after ${SEG}`);
    const s = recoverScript('beanstock');
    const order = [
      'systemctl stop',
      'DROP_REPLICATION_SLOT infra_pitr WAIT',
      'mkdir before-gap-$stamp',
      'systemctl start',
      '/usr/local/sbin/infra-pitr-base beanstock',
    ].map((x) => s.indexOf(x));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(walServiceUnit).toContain('ExecStartPre=/usr/local/sbin/infra-pitr-wal-start %i');
    expect(walServiceUnit).toContain('--no-loop');
  });
});
