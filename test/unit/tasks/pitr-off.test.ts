import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../../src/inventory/load.js';
import { pitrRoleTasks } from '../../../src/roles/pitr.js';
import {
  diffLeftovers,
  diffOff,
  offSql,
  parseLeftovers,
  parseOff,
  pitrOffTask,
  teardownScript,
} from '../../../src/tasks/pitr-off.js';

describe('PITR off, control host: leftovers of apps no longer streamed', () => {
  const out = [
    'file xhosa env',
    'file xhosa password',
    'file beanstock env',
    'enabled xhosa infra-pitr-wal@.service',
    'enabled xhosa infra-pitr-base@.timer',
    'unit xhosa infra-pitr-wal@.service active',
    'unit gone infra-pitr-wal@.service failed',
    'unit Bad infra-pitr-wal@.service active',
    'garbage',
    '',
  ].join('\n');

  it('parses files, enabled units and running units per app (a bad name is ignored)', () => {
    expect(parseLeftovers(out)).toEqual({
      xhosa: [
        'xhosa.env',
        'xhosa.password',
        'infra-pitr-wal@xhosa.service enabled',
        'infra-pitr-base@xhosa.timer enabled',
        'infra-pitr-wal@xhosa.service active',
      ],
      beanstock: ['beanstock.env'],
      gone: ['infra-pitr-wal@gone.service failed'],
    });
    expect(parseLeftovers('')).toEqual({});
  });

  it.each([
    { wanted: ['xhosa', 'beanstock', 'gone'], apps: [] },
    { wanted: ['beanstock'], apps: ['gone', 'xhosa'] },
    { wanted: [], apps: ['beanstock', 'gone', 'xhosa'] },
  ])('wanted $wanted: leftovers of $apps, the archive kept', ({ wanted, apps }) => {
    const c = diffLeftovers(wanted, parseLeftovers(out));
    expect(c.map((x) => x.kind)).toEqual(apps.map(() => 'pitr-leftover'));
    expect(c.map((x) => /is off for (\S+):/.exec(x.summary)?.[1])).toEqual(apps);
    for (const x of c) expect(x.summary).toMatch(/archive in \/var\/backups\/infra-pitr\/\S+ is kept/);
  });

  it('teardown stops and disables the units, removes the files under /etc, never the archive', () => {
    const s = teardownScript('xhosa');
    expect(s).toContain('systemctl disable --now infra-pitr-wal@xhosa.service infra-pitr-base@xhosa.timer');
    expect(s).toContain('systemctl stop infra-pitr-base@xhosa.service');
    expect(s).toContain(
      'rm -f /etc/infra/pitr/xhosa.env /etc/infra/pitr/xhosa.pgpass /etc/infra/pitr/xhosa.password /etc/infra/pitr/xhosa.verifier',
    );
    expect(s).not.toMatch(/rm -r|\/var\/backups\/infra-pitr\/xhosa\//);
  });
});

describe("PITR off, apps host: the slot and role left in the app's PostgreSQL", () => {
  it.each([
    ['inactive|t', { up: true, slot: 'inactive', role: true }],
    ['active|t', { up: true, slot: 'active', role: true }],
    ['none|t', { up: true, slot: null, role: true }],
    ['none|f', { up: true, slot: null, role: false }],
    ['down', { up: false, slot: null, role: false }],
    ['', { up: false, slot: null, role: false }],
  ])('parses %j', (out, want) => expect(parseOff(out)).toEqual(want));

  it.each([
    ['none|f', [], undefined],
    ['down', [], undefined],
    ['inactive|t', [/drop the slot infra_pitr \(it holds WAL\) and the role infra_wal/], undefined],
    ['none|t', [/drop the role infra_wal$/], undefined],
    ['inactive|f', [/drop the slot infra_pitr \(it holds WAL\)$/], undefined],
    [
      'active|t',
      [/toucan still streams its WAL \(slot infra_pitr active\): run infra apply toucan/],
      'toucan',
    ],
  ])('%j: changes and wait', (out, summaries, waitOn) => {
    const s = parseOff(out);
    const c = diffOff('xhosa', 'toucan', s);
    expect(c.map((x) => x.kind)).toEqual(summaries.map(() => 'pitr-leftover'));
    for (const [i, x] of c.entries()) expect(x.summary).toMatch(summaries[i]!);
    expect(pitrOffTask('xhosa', 'toucan').wait?.(s)?.on).toBe(waitOn);
  });

  it('drops only an inactive slot, and the role only once no slot is left', () => {
    expect(offSql).toMatch(
      /pg_drop_replication_slot\(slot_name\) from pg_replication_slots where slot_name = 'infra_pitr' and not active;/,
    );
    expect(offSql).toMatch(
      /drop role infra_wal' where exists .* and not exists \(select 1 from pg_replication_slots where slot_name = 'infra_pitr'\) \\gexec/,
    );
    expect(offSql).not.toMatch(/pg_terminate_backend/);
  });
});

describe('PITR off in the hosts plans', () => {
  const REPO = path.resolve(import.meta.dirname, '../../..');
  const V = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';
  const inventory = (pitr: string[]) => {
    const inv = loadInventory(path.join(REPO, 'inventory.yaml'), { requireSecrets: false, env: {} });
    inv.stateDir = mkdtempSync(path.join(tmpdir(), 'infra-pitr-off-'));
    writeFileSync(
      path.join(inv.stateDir, 'hosts.json'),
      JSON.stringify({
        toucan: { tailnetAddress: '100.64.0.1', pitrVerifiers: { xhosa: V, docflow: V } },
        hornbill: { tailnetAddress: '100.64.0.2', pitrSources: { xhosa: V, docflow: V } },
      }),
    );
    for (const a of inv.apps) a.pitr = pitr.includes(a.name);
    return inv;
  };
  const ids = (inv: ReturnType<typeof inventory>, host: string, only?: string) =>
    pitrRoleTasks(inv, host, {}, { only }).map((t) => t.id);

  it('the control host always looks for leftovers, keeping the apps still on; a restore does not', () => {
    const inv = inventory(['docflow']);
    expect(ids(inv, 'toucan')).toContain('pitr:leftover');
    expect(ids(inv, 'toucan')).not.toContain('pitr:xhosa:ready');
    const task = pitrRoleTasks(inv, 'toucan', {}).find((t) => t.id === 'pitr:leftover')!;
    const out = 'file xhosa env\nfile docflow env\nunit docflow infra-pitr-wal@.service active';
    expect(task.diff(task.parse(out)).map((c) => c.actual)).toEqual(['xhosa.env']);
    expect(ids(inventory([]), 'toucan')).toEqual(['pitr:leftover']);
    expect(ids(inv, 'toucan', 'docflow')).not.toContain('pitr:leftover');
  });

  it("an apps host checks each of its apps with PITR off, after the apps' stacks", () => {
    const inv = inventory(['docflow']);
    const off = inv.apps.filter((a) => a.host === 'hornbill' && a.name !== 'docflow').map((a) => a.name);
    expect(off).toContain('xhosa');
    expect(ids(inv, 'hornbill')).toEqual(['pitr-source', ...off.map((a) => `pitr-source:${a}:off`)]);
    expect(ids(inv, 'hornbill', 'xhosa')).toEqual(['pitr-source']);
  });
});
