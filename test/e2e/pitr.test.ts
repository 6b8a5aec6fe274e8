import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { removeAppText } from '../../src/inventory/edit.js';
import { containerOf, ensureLab, infra, onHost, REPO, resetInventory } from './harness.js';

/**
 * Issue 18 on the lab: WAL of beanstock (REAL PostgreSQL 18) streamed to toucan by pg_receivewal
 * over the lab tailnet, a base backup there, then the apps host killed (`docker kill`, no clean
 * shutdown) and the app restored to a moment and to the latest WAL toucan had. The "fresh apps
 * host" is hornbill booted again with beanstock's stack, volume and files removed (no cold
 * bootstrap: CI time); `--to` another host and majors 16/17 are covered by unit tests only.
 */
const doc = parseDocument(
  ['xhosa', 'docflow'].reduce(removeAppText, readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8')),
);
doc.setIn(['apps', 'beanstock', 'pitr'], true);
const BASE = doc.toString();
const lab = (...args: string[]) => infra(['--lab', ...args]);
const rows = async () => {
  const r = await lab('db', 'psql', 'beanstock', '-c', 'select count(*) from beans');
  expect(r.code, r.all).toBe(0);
  return Number(r.stdout.trim());
};
const sql = async (statement: string) => {
  const r = await lab('db', 'psql', 'beanstock', '-c', statement);
  expect(r.code, r.all).toBe(0);
  return r.stdout.trim();
};
type Item = { task: string; kind: string; summary?: string };
const MINE =
  /^(pitr|file:\/etc\/infra\/pitr|file:\/usr\/local\/sbin\/infra-pitr|file:\/etc\/systemd\/system\/infra-pitr|service:infra-pitr)/;
const mine = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as { hosts: Record<string, Item[]>[] }).hosts
    .flatMap((h) => h[key] ?? [])
    .filter((c) => MINE.test(c.task));
const wipeApp = () =>
  onHost(
    'hornbill',
    'command -v docker >/dev/null || exit 0; docker ps -aq --filter label=io.infra.app=beanstock | xargs -r docker rm -f >/dev/null; docker rm -f beanstock-pitr-recovery >/dev/null 2>&1; docker volume ls -q --filter label=io.infra.app=beanstock | xargs -r docker volume rm >/dev/null; docker volume rm beanstock-pg18 >/dev/null 2>&1; rm -rf /srv/infra/apps/beanstock /var/backups/infra/beanstock; true',
  );
const walFiles = async () =>
  Number(
    (await onHost('toucan', 'ls /var/backups/infra-pitr/beanstock/wal 2>/dev/null | wc -l')).stdout.trim(),
  );
const times: Record<string, number> = {};
const timed = async <T>(name: string, f: () => Promise<T>) => {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    times[name] = (Date.now() - t0) / 1000;
  }
};

describe('point-in-time recovery: WAL streamed to the control server, restore to a moment', () => {
  afterAll(async () => {
    console.log(`pitr timings (s): ${JSON.stringify(times)}`);
    await wipeApp();
    await onHost(
      'toucan',
      'systemctl stop infra-pitr-wal@beanstock.service infra-pitr-base@beanstock.timer 2>/dev/null; rm -rf /var/backups/infra-pitr /etc/infra/pitr; true',
    );
    resetInventory();
  });

  beforeAll(async () => {
    resetInventory(BASE);
    await ensureLab();
    await wipeApp();
    await onHost(
      'toucan',
      'systemctl stop infra-pitr-wal@beanstock.service 2>/dev/null; rm -rf /var/backups/infra-pitr; true',
    );
    await timed('setup', async () => {
      // toucan makes the secret, hornbill sets up the role, toucan starts streaming.
      for (const h of ['toucan', 'hornbill', 'toucan']) {
        const r = await lab('bootstrap', h);
        expect(r.code, r.all.slice(-3000)).toBe(0);
      }
      for (let i = 0; i < 60 && (await walFiles()) === 0; i++) await new Promise((r) => setTimeout(r, 1000));
      // WAL arrives: this apply takes the first base backup.
      const r = await lab('apply', 'toucan', '--json');
      expect(r.code, r.all.slice(-3000)).toBe(0);
      expect(mine(r.stdout, 'changes').map((c) => c.kind)).toContain('pitr-base-missing');
    });
  });

  it('converged: a second apply changes nothing, check finds nothing, replication is refused from anywhere but toucan', async () => {
    for (const h of ['toucan', 'hornbill']) {
      const again = await lab('apply', h, '--json');
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
      const seen = await lab('check', h, '--json');
      expect(mine(seen.stdout, 'findings'), seen.stdout).toEqual([]);
    }
    const s = await onHost(
      'toucan',
      'systemctl is-active infra-pitr-wal@beanstock.service; ls /var/backups/infra-pitr/beanstock/base/*/; stat -c %a /etc/infra/pitr/beanstock.password',
    );
    expect(s.stdout).toMatch(/^active\n/);
    expect(s.stdout).toContain('base.tar.gz');
    expect(s.stdout.trim().endsWith('600')).toBe(true);
    // The role from inside the apps host itself: pg_hba's reject line, whatever the password.
    const refused = await onHost(
      'hornbill',
      "cd /srv/infra/apps/beanstock && docker compose -p beanstock exec -T -e PGPASSWORD=x db psql 'host=127.0.0.1 user=infra_wal dbname=replication replication=true' -c IDENTIFY_SYSTEM",
    );
    expect(refused.code).not.toBe(0);
    expect(refused.all).toMatch(/pg_hba\.conf rejects/);
    expect(await sql("select active from pg_replication_slots where slot_name = 'infra_pitr'")).toBe('t');
  });

  it('1000 rows, the time noted, 500 more, hornbill killed: --at latest then --at the noted time', async () => {
    await sql(
      "CREATE TABLE beans (id int primary key, name text); INSERT INTO beans SELECT g, 'bean ' || g FROM generate_series(1, 1000) g",
    );
    await new Promise((r) => setTimeout(r, 1500));
    const noted = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    await sql("INSERT INTO beans SELECT g, 'bean ' || g FROM generate_series(1001, 1500) g");
    await execa('docker', ['kill', containerOf('hornbill')]);
    const killedAt = Date.now();
    // What toucan has is all it will get: its receiver must not read hornbill's disk after the boot.
    await onHost('toucan', 'systemctl stop infra-pitr-wal@beanstock.service');
    const up = await infra(['lab', 'up']);
    expect(up.code, up.all).toBe(0);
    await wipeApp(); // the replacement apps host: no beanstock data, files or stack at all

    const latest = await timed('restore --at latest', () =>
      lab('restore', 'beanstock', '--at', 'latest', '--yes'),
    );
    expect(latest.code, latest.all.slice(-3000)).toBe(0);
    expect(latest.all).toMatch(/restored beanstock to the last WAL/);
    const got = await rows();
    const lost = 1500 - got;
    console.log(
      `recovery point: --at latest restored ${got} of 1500 rows (${lost} lost; killed ${killedAt})`,
    );
    expect(got).toBeGreaterThanOrEqual(1000);
    expect(got).toBeLessThanOrEqual(1500);

    const at = await timed('restore --at noted', () => lab('restore', 'beanstock', '--at', noted, '--yes'));
    expect(at.code, at.all.slice(-3000)).toBe(0);
    expect(await rows()).toBe(1000);
    expect(at.all).toMatch(/kept the old volume as beanstock-pg18-before-pitr-/);

    // Streaming again from the restored server, converged twice over, nothing to report.
    for (const h of ['hornbill', 'toucan']) {
      const again = await lab('apply', h, '--json');
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
      const seen = await lab('check', h, '--json');
      expect(mine(seen.stdout, 'findings'), seen.stdout).toEqual([]);
    }
    const pruned = await lab('restore', 'beanstock', '--prune', '--yes');
    expect(pruned.code, pruned.all).toBe(0);
    expect(pruned.all).toMatch(/removed beanstock-pg18-before-pitr-/);
  });

  it('refuses a moment before the first base backup, and bad input, with one line and no change', async () => {
    const early = await lab('restore', 'beanstock', '--at', '2001-01-01T00:00:00Z', '--yes');
    expect(early.code).toBe(1);
    expect(early.all).toMatch(/no base backup of beanstock finished before 2001-01-01T00:00:00.000Z/);
    const bad = await lab('restore', 'beanstock', '--at', 'yesterday', '--yes');
    expect(bad.code).toBe(1);
    expect(bad.all).toMatch(/--at "yesterday": expected latest or a time with its zone/);
    expect(bad.all).not.toMatch(/\n\s+at .*:\d+:\d+\)/);
    expect(await rows()).toBe(1000);
  });
});
