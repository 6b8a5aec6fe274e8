import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCopyList } from '../../../src/commands/control-copies.js';
import type { Inventory } from '../../../src/inventory/types.js';
import { appsBackupTasks, pulledHostKeys, pullTargets } from '../../../src/roles/backups.js';
import { diffCopies, parseCopyState, parsePublicKey } from '../../../src/tasks/backup-copies.js';
import { pullConf } from '../../../src/tasks/backup-pull.js';
import { authorizedKeysText } from '../../../src/tasks/backup-serve.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBw7 infra-backup-pull@toucan';

function inventory(learned: Record<string, unknown>, knownHosts = ''): Inventory {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-copies-'));
  writeFileSync(path.join(dir, 'hosts.json'), JSON.stringify(learned));
  writeFileSync(path.join(dir, 'known_hosts'), knownHosts);
  const host = (name: string, role: 'control' | 'apps') => ({
    name,
    role,
    address: `${name}.example.net`,
    ssh: { user: 'root', port: 22 },
    timezone: 'Etc/UTC',
    packages: [],
    publicPorts: [],
  });
  return {
    stateDir: dir,
    knownHostsFile: path.join(dir, 'known_hosts'),
    hosts: [host('toucan', 'control'), host('hornbill', 'apps')],
    apps: [
      { name: 'xhosa', host: 'hornbill', postgres: 16, backupRetentionDays: 14, controlRetentionDays: 90 },
      {
        name: 'beanstock',
        host: 'hornbill',
        postgres: 18,
        backupRetentionDays: 14,
        controlRetentionDays: 60,
      },
    ],
  } as unknown as Inventory;
}

describe('off-host copies: planning', () => {
  it('dials each app at its host’s learned tailnet address, with the app’s control retention', () => {
    const inv = inventory({ hornbill: { tailnetAddress: '100.64.0.3' } });
    const { targets, unknown } = pullTargets(inv);
    expect(unknown).toEqual([]);
    expect(pullConf(targets)).toBe(
      '# Installed by infra: the apps whose dumps this host copies (APP ADDRESS PORT KEEP_DAYS MAJOR).\nbeanstock 100.64.0.3 22 60 18\nxhosa 100.64.0.3 22 90 16\n',
    );
  });

  it('an apps host without a known tailnet address is named, not guessed', () => {
    expect(pullTargets(inventory({}))).toEqual({ targets: [], unknown: ['hornbill'] });
  });

  it('pins the apps host’s key as infra pinned it, under the tailnet address the pull dials', () => {
    const inv = inventory(
      { hornbill: { tailnetAddress: '100.64.0.3' } },
      'hornbill,[127.0.0.1]:2222 ssh-ed25519 AAAAHORN\ntoucan,10.0.0.1 ssh-ed25519 AAAATOUC\n',
    );
    expect(pulledHostKeys(inv, pullTargets(inv).targets)).toBe(
      "# Installed by infra: the apps hosts' keys as infra pinned them.\n100.64.0.3 ssh-ed25519 AAAAHORN\n",
    );
  });

  it('the apps host waits for the control host’s key, then authorizes it for the serve script only', () => {
    const waiting = appsBackupTasks(inventory({}), inventory({}).hosts[1]!, {});
    expect(waiting.map((t) => t.id)).toEqual(['backup-serve']);
    expect(waiting[0]!.wait?.(null)).toEqual({ on: 'toucan', run: 'infra bootstrap toucan' });
    const inv = inventory({ toucan: { backupPullKey: KEY } });
    const ids = appsBackupTasks(inv, inv.hosts[1]!, {}).map((t) => t.id);
    expect(ids).toEqual([
      'user:infra-pull',
      'file:/usr/local/sbin/infra-backup-serve',
      'file:/etc/sudoers.d/infra-backup-serve',
      'file:/var/lib/infra-pull/.ssh/authorized_keys',
    ]);
    expect(authorizedKeysText(KEY)).toContain(
      `restrict,command="/usr/local/sbin/infra-backup-serve" ${KEY}\n`,
    );
  });

  it.each([
    [KEY, KEY],
    ['', undefined],
    ['ssh-rsa AAAA x', undefined],
    [`${KEY}\nsomething else`, undefined],
  ])('public key %j -> %j', (out, want) => {
    expect(parsePublicKey(out)).toBe(want);
  });
});

describe('off-host copies: state', () => {
  it.each([
    ['newest none\n', []],
    ['newest 3600 beanstock-20261125T023000Z.dump\n', []],
    ['newest 200000 beanstock-20261123T023000Z.dump\n', ['backup-copy-stale']],
    [
      'newest 3600 beanstock-20261125T023000Z.dump\n2026-11-26T04:31:00Z the copy of x failed; is it full?\n',
      ['backup-copy-failed'],
    ],
    [
      'newest none\n2026-11-26T04:31:00Z cannot list the dumps on 100.64.0.3: refused\n',
      ['backup-copy-failed'],
    ],
  ])('%j -> %j', (out, kinds) => {
    expect(diffCopies('beanstock', 'toucan', parseCopyState(out)).map((c) => c.kind)).toEqual(kinds);
  });

  it('lists only copies with a checksum, newest first', () => {
    const sha = 'a'.repeat(64);
    const out = `beanstock-20261124T023000Z.dump 10 ${sha} yes\nbeanstock-20261125T023000Z.dump 20 ${sha} no\nbeanstock-x.dump 1 nope no\n`;
    expect(parseCopyList('beanstock', out).map((c) => [c.name, c.hasManifest])).toEqual([
      ['beanstock-20261125T023000Z.dump', false],
      ['beanstock-20261124T023000Z.dump', true],
    ]);
  });
});
