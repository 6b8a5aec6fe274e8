import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { forgetPitr } from './bootstrap-helpers.js';
import {
  containerOf,
  ensureLab,
  infra,
  inventoryText,
  onHost,
  REPO,
  resetInventory,
  stepTimer,
} from './harness.js';

/**
 * Issue 18 on the lab, REAL PostgreSQL 16, 17 and 18: every app's WAL streamed to toucan by
 * pg_receivewal over the lab tailnet, a base backup of each there; then the apps host killed
 * (`docker kill`, no clean shutdown) and each app restored onto a fresh apps host (`heron`,
 * bootstrapped cold after the kill, as an operator would order a new VPS) with `--to`: to the
 * latest WAL toucan had (the recovery point achieved is printed) and to a noted moment.
 */
const APPS = { xhosa: 16, docflow: 17, beanstock: 18 } as const;
type App = keyof typeof APPS;
const doc = parseDocument(readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8'));
for (const app of Object.keys(APPS)) doc.setIn(['apps', app, 'pitr'], true);
// The replacement apps host; --lab gives it a lab address (this one is documentation's TEST-NET-3).
doc.setIn(['hosts', 'heron'], doc.createNode({ role: 'apps', address: '203.0.113.12' }));
const BASE = doc.toString();

const lab = (...args: string[]) => infra(['--lab', ...args]);
const sql = async (app: App, statement: string) => {
  const r = await lab('db', 'psql', app, '-c', statement);
  expect(r.code, r.all).toBe(0);
  return r.stdout.trim();
};
const rows = async (app: App) => Number(await sql(app, 'select count(*) from beans'));
type Item = { task: string; kind: string; summary?: string };
const MINE =
  /^(pitr|file:\/etc\/infra\/pitr|file:\/usr\/local\/sbin\/infra-pitr|file:\/etc\/systemd\/system\/infra-pitr|service:infra-pitr)/;
const mine = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as { hosts: Record<string, Item[]>[] }).hosts
    .flatMap((h) => h[key] ?? [])
    .filter((c) => MINE.test(c.task));
/** Every app's PostgreSQL on a host gone, with its files: as on a host that never had it. */
const wipeApps = (host: string) =>
  onHost(
    host,
    'command -v docker >/dev/null || exit 0; docker ps -aq --filter label=io.infra.app | xargs -r docker rm -f >/dev/null; docker volume ls -q --filter label=io.infra.app | xargs -r docker volume rm >/dev/null; rm -rf /srv/infra/apps /var/backups/infra; true',
  );
const stopPitr = () =>
  onHost(
    'toucan',
    'systemctl stop "infra-pitr-wal@*.service" "infra-pitr-base@*.timer" 2>/dev/null; rm -rf /var/backups/infra-pitr; true',
  );
const walFiles = async (app: App) =>
  Number((await onHost('toucan', `ls /var/backups/infra-pitr/${app}/wal 2>/dev/null | wc -l`)).stdout.trim());
const { times, timed } = stepTimer();

describe('point-in-time recovery: WAL streamed to the control server, restore to a moment', () => {
  afterAll(async () => {
    console.log(`pitr timings (s): ${JSON.stringify(times)}`);
    await stopPitr();
    // The suite's later files know two hosts. heron leaves as an operator takes a server out:
    // its Dokploy registration removed by hand (infra never deregisters one: toucan waits,
    // stack:dokploy:orphans), the container stopped (lab down removes it). hornbill comes back
    // with apps that no longer stream (their slots dropped: nothing holds WAL), and toucan's
    // backup pull points at it again.
    const key = /^dokploy_api_key=(\S+)$/m.exec(
      (await lab('secrets', 'show', 'toucan', 'dokploy')).stdout,
    )?.[1];
    if (key)
      await onHost(
        'toucan',
        `api() { curl -s -m 30 -H "x-api-key: $k" -H 'content-type: application/json' "$@"; }; k='${key}'
id=$(api http://127.0.0.1:3000/api/server.all | jq -r '.[] | select(.name == "heron") | .serverId')
[ -z "$id" ] || api --data-binary "{\\"serverId\\":\\"$id\\"}" http://127.0.0.1:3000/api/server.remove`,
      );
    await execa('docker', ['stop', '-t', '1', containerOf('heron')], { reject: false });
    resetInventory();
    await infra(['lab', 'up']);
    for (const app of Object.keys(APPS))
      await onHost(
        'hornbill',
        `docker exec ${app}-db-1 psql -U ${app} -d ${app} -Atc "select pg_drop_replication_slot('infra_pitr') from pg_replication_slots where slot_name = 'infra_pitr'" -c 'drop role if exists infra_wal' 2>/dev/null; true`,
      );
    await lab('apply', 'toucan');
  });

  beforeAll(async () => {
    resetInventory(BASE);
    await ensureLab();
    await stopPitr();
    // A previous run's: its roles and toucan's secrets are gone (PITR turned off at its end).
    forgetPitr();
    await timed('setup', async () => {
      // toucan makes the secrets, hornbill sets up the roles, toucan starts streaming. Once a
      // receiver is started, its base-backup task is probed again: whatever WAL already arrived,
      // the first base backup is taken in that same run; the rest by the apply after WAL arrives.
      const taken: string[] = [];
      const took = (stdout: string) =>
        taken.push(
          ...mine(stdout, 'changes')
            .filter((c) => c.kind === 'pitr-base-missing')
            .map((c) => c.task),
        );
      for (const h of ['toucan', 'hornbill', 'toucan']) {
        const r = await lab('bootstrap', h, '--json');
        expect(r.code, r.all.slice(-3000)).toBe(0);
        took(r.stdout);
      }
      for (const app of Object.keys(APPS) as App[])
        for (let i = 0; i < 90 && (await walFiles(app)) === 0; i++)
          await new Promise((r) => setTimeout(r, 1000));
      const r = await lab('apply', 'toucan', '--json');
      expect(r.code, r.all.slice(-3000)).toBe(0);
      took(r.stdout);
      expect(taken.sort()).toEqual(
        Object.keys(APPS)
          .sort()
          .map((a) => `pitr:${a}:base`),
      );
    });
  });

  it('converged: a second run changes nothing, check finds nothing, replication is refused from anywhere but toucan', async () => {
    for (const h of ['toucan', 'hornbill']) {
      const again = await lab('apply', h, '--json');
      expect(again.code, again.all.slice(-2000)).toBe(0);
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
      const seen = await lab('check', h, '--json');
      expect(mine(seen.stdout, 'findings'), seen.stdout).toEqual([]);
    }
    for (const app of Object.keys(APPS) as App[]) {
      const s = await onHost(
        'toucan',
        `systemctl is-active infra-pitr-wal@${app}.service; ls /var/backups/infra-pitr/${app}/base/*/; stat -c %a /etc/infra/pitr/${app}.password`,
      );
      expect(s.stdout, app).toMatch(/^active\n/);
      expect(s.stdout, app).toContain('base.tar.gz');
      expect(s.stdout.trim().endsWith('600'), app).toBe(true);
      expect(await sql(app, "select active from pg_replication_slots where slot_name = 'infra_pitr'")).toBe(
        't',
      );
    }
    // The role from inside the apps host itself: pg_hba's reject line, whatever the password.
    const refused = await onHost(
      'hornbill',
      "docker exec -e PGPASSWORD=x beanstock-db-1 psql 'host=127.0.0.1 user=infra_wal dbname=replication replication=true' -c IDENTIFY_SYSTEM",
    );
    expect(refused.code).not.toBe(0);
    expect(refused.all).toMatch(/pg_hba\.conf rejects/);
  });

  it('rows written, the time noted, more rows, hornbill killed: each app restored onto a fresh host with --to', async () => {
    for (const app of Object.keys(APPS) as App[])
      await sql(
        app,
        "DROP TABLE IF EXISTS beans; CREATE TABLE beans (id int primary key, name text); INSERT INTO beans SELECT g, 'bean ' || g FROM generate_series(1, 1000) g",
      );
    await new Promise((r) => setTimeout(r, 1500));
    const noted = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    // beanstock's rows first, and on toucan before the kill: `--at noted` below needs WAL after
    // the noted moment (PostgreSQL stops short of a target past its last WAL; the case after this
    // one proves that). pg_receivewal reports what it wrote at its status interval (10 s).
    const more = "INSERT INTO beans SELECT g, 'bean ' || g FROM generate_series(1001, 1500) g";
    await sql('beanstock', more);
    const lsn = await sql('beanstock', 'select pg_current_wal_lsn()');
    let received = 'f';
    for (let i = 0; i < 60 && received !== 't'; i++) {
      await new Promise((r) => setTimeout(r, 500));
      received = await sql(
        'beanstock',
        `select coalesce(bool_or(write_lsn >= '${lsn}'), false) from pg_stat_replication`,
      );
    }
    expect(received, `toucan did not receive beanstock's WAL up to ${lsn}`).toBe('t');
    // The other two are killed right after their commit: they measure the recovery point.
    for (const app of ['xhosa', 'docflow'] as const) await sql(app, more);
    await execa('docker', ['kill', containerOf('hornbill')]);
    const killedAt = Date.now();

    // The replacement: a new apps host, bootstrapped from nothing while hornbill stays dead.
    await wipeApps('heron');
    const boot = await timed('bootstrap heron', () => lab('bootstrap', 'heron'));
    expect(boot.code, boot.all.slice(-3000)).toBe(0);

    const points: string[] = [];
    for (const app of Object.keys(APPS) as App[]) {
      const r = await timed(`restore ${app} --at latest --to heron`, () =>
        lab('restore', app, '--at', 'latest', '--to', 'heron', '--yes'),
      );
      expect(r.code, r.all.slice(-3000)).toBe(0);
      expect(r.all).toMatch(new RegExp(`heron: restored ${app} to the last WAL`));
      const got = await rows(app);
      points.push(`${app} (PostgreSQL ${APPS[app]}) ${got}/1500`);
      // A transaction's commit reaches toucan within pg_receivewal's stream; only the last
      // seconds before the kill may be missing, never what was there before the noted time.
      expect(got, app).toBeGreaterThanOrEqual(1000);
      expect(got, app).toBeLessThanOrEqual(1500);
    }
    console.log(
      `recovery point: --at latest restored ${points.join(', ')} rows (hornbill killed ${((Date.now() - killedAt) / 1000).toFixed(0)} s before the last restore ended)`,
    );
    expect(
      parseDocument(readFileSync(path.join(REPO, '.infra-e2e', 'inventory.yaml'), 'utf8')).getIn([
        'apps',
        'beanstock',
        'host',
      ]),
    ).toBe('heron');

    // A moment before the restore belongs to the archive the restore set aside.
    const at = await timed('restore beanstock --at noted', () =>
      lab('restore', 'beanstock', '--at', noted, '--yes'),
    );
    expect(at.code, at.all.slice(-3000)).toBe(0);
    expect(await rows('beanstock')).toBe(1000);
    expect(at.all).toMatch(/kept the old volume as beanstock-pg18-before-pitr-/);

    // Streaming again from the restored servers, converged twice over, nothing to report.
    for (const h of ['heron', 'toucan']) {
      const again = await lab('apply', h, '--json');
      expect(again.code, again.all.slice(-2000)).toBe(0);
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
      const seen = await lab('check', h, '--json');
      expect(mine(seen.stdout, 'findings'), seen.stdout).toEqual([]);
    }
    const pruned = await lab('restore', 'beanstock', '--prune', '--yes');
    expect(pruned.code, pruned.all).toBe(0);
    expect(pruned.all).toMatch(/removed beanstock-pg18-before-pitr-/);
  });

  it('a moment after the last WAL toucan received: the restore fails with PostgreSQL`s reason and changes nothing', async () => {
    await onHost('toucan', 'systemctl stop infra-pitr-wal@beanstock.service');
    await sql('beanstock', "INSERT INTO beans SELECT g, 'late ' || g FROM generate_series(1001, 1010) g");
    await new Promise((r) => setTimeout(r, 1500));
    const r = await timed('restore beanstock past the archive', () =>
      lab('restore', 'beanstock', '--at', new Date().toISOString(), '--yes'),
    );
    expect(r.code, r.all.slice(-3000)).toBe(1);
    expect(r.all).toMatch(/recovery ended before configured recovery target was reached/);
    expect(r.all).toMatch(
      /nothing changed: beanstock on heron is as it was \(the moment is after the last WAL toucan received/,
    );
    expect(r.all).not.toMatch(/\n\s+at .*:\d+:\d+\)/);
    // As it was: the rows written since, the stack serving them, no copy or staged archive left,
    // and the receiver streaming again.
    expect(await rows('beanstock')).toBe(1010);
    const left = await onHost(
      'heron',
      'docker volume ls -q | grep -c before-pitr; ls /var/backups/infra-pitr-restore 2>/dev/null | wc -l',
    );
    expect(left.stdout.trim().split('\n')).toEqual(['0', '0']);
    let state = '';
    for (let i = 0; i < 30 && state !== 'active'; i++) {
      state = (await onHost('toucan', 'systemctl is-active infra-pitr-wal@beanstock.service')).stdout.trim();
      if (state !== 'active') await new Promise((res) => setTimeout(res, 1000));
    }
    expect(state).toBe('active');
    await sql('beanstock', 'DELETE FROM beans WHERE id > 1000');
  });

  it('refuses a moment before the first base backup, and bad input, with one line and no change', async () => {
    const early = await lab('restore', 'beanstock', '--at', '2001-01-01T00:00:00Z', '--yes');
    expect(early.code).toBe(1);
    expect(early.all).toMatch(/no base backup of beanstock finished before 2001-01-01T00:00:00.000Z/);
    const bad = await lab('restore', 'beanstock', '--at', 'yesterday', '--yes');
    expect(bad.code).toBe(1);
    expect(bad.all).toMatch(/--at "yesterday": expected latest or a time with its zone/);
    const nowhere = await lab('restore', 'beanstock', '--at', 'latest', '--to', 'toucan', '--yes');
    expect(nowhere.code).toBe(1);
    expect(nowhere.all).toMatch(/--to "toucan": expected an apps host of .*\(hornbill, heron\)/);
    for (const r of [early, bad, nowhere]) expect(r.all).not.toMatch(/\n\s+at .*:\d+:\d+\)/);
    expect(await rows('beanstock')).toBe(1000);
  });

  it('PITR turned off for xhosa (docflow kept): toucan stops its receiver and keeps the archive, heron drops the slot once inactive', async () => {
    const inv = parseDocument(inventoryText());
    inv.deleteIn(['apps', 'xhosa', 'pitr']);
    resetInventory(inv.toString());
    const findings = (stdout: string) => mine(stdout, 'findings').map((c) => `${c.task} ${c.kind}`);
    // heron first, while toucan still streams: the slot is active, so it waits for toucan.
    const early = await lab('check', 'heron', '--json');
    expect(early.code, early.all.slice(-2000)).toBe(2);
    expect(findings(early.stdout)).toEqual(['pitr-source:xhosa:off waiting']);
    expect(early.stdout).toMatch(/waiting for toucan: run infra apply toucan/);
    expect(early.stdout).toMatch(/toucan still streams its WAL \(slot infra_pitr active\)/);
    expect(await sql('xhosa', "select active from pg_replication_slots where slot_name = 'infra_pitr'")).toBe(
      't',
    );

    const seenToucan = await lab('check', 'toucan', '--json');
    expect(findings(seenToucan.stdout)).toEqual(['pitr:leftover pitr-leftover']);
    const t = await timed('off: apply toucan', () => lab('apply', 'toucan', '--json'));
    expect(t.code, t.all.slice(-3000)).toBe(0);
    expect(mine(t.stdout, 'changes').map((c) => `${c.task} ${c.kind}`)).toEqual([
      'pitr:leftover pitr-leftover',
    ]);
    expect(t.stdout).toMatch(/its archive in \/var\/backups\/infra-pitr\/xhosa is kept/);
    // The walsender ends when pg_receivewal's connection closes: a moment after the unit stopped.
    let active = 't';
    for (let i = 0; i < 30 && active === 't'; i++) {
      active = await sql('xhosa', "select active from pg_replication_slots where slot_name = 'infra_pitr'");
      if (active === 't') await new Promise((r) => setTimeout(r, 1000));
    }
    expect(active).toBe('f');
    const h = await timed('off: apply heron', () => lab('apply', 'heron', '--json'));
    expect(h.code, h.all.slice(-3000)).toBe(0);
    expect(mine(h.stdout, 'changes').map((c) => `${c.task} ${c.kind}`)).toEqual([
      'pitr-source:xhosa:off pitr-leftover',
    ]);

    const units = await onHost(
      'toucan',
      'for u in infra-pitr-wal@xhosa.service infra-pitr-base@xhosa.timer; do echo "$(systemctl is-active $u) $(systemctl is-enabled $u 2>/dev/null || true)"; done; ls /etc/infra/pitr | grep -c "^xhosa\\." || true; ls /var/backups/infra-pitr/xhosa/wal | grep -cE "^[0-9A-F]{24}"; ls /var/backups/infra-pitr/xhosa/base/*/base.tar.gz | wc -l',
    );
    const [wal, timer, files, segments, bases] = units.stdout.trim().split('\n');
    expect(wal).toBe('inactive disabled');
    expect(timer).toBe('inactive disabled');
    expect(files).toBe('0');
    expect(Number(segments), 'the WAL archive is kept').toBeGreaterThan(0);
    expect(Number(bases), 'the base backups are kept').toBeGreaterThan(0);
    expect(
      await sql('xhosa', "select count(*) from pg_replication_slots where slot_name = 'infra_pitr'"),
    ).toBe('0');
    expect(await sql('xhosa', "select count(*) from pg_roles where rolname = 'infra_wal'")).toBe('0');
    expect(
      await sql('xhosa', "select count(*) from pg_hba_file_rules where 'infra_wal' = any(user_name)"),
    ).toBe('0');
    // docflow still streams.
    expect(
      await sql('docflow', "select active from pg_replication_slots where slot_name = 'infra_pitr'"),
    ).toBe('t');
    expect((await onHost('toucan', 'systemctl is-active infra-pitr-wal@docflow.service')).stdout.trim()).toBe(
      'active',
    );

    for (const host of ['toucan', 'heron']) {
      const again = await timed(`off: apply ${host} again`, () => lab('apply', host, '--json'));
      expect(again.code, again.all.slice(-2000)).toBe(0);
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
      const seen = await lab('check', host, '--json');
      expect(findings(seen.stdout), seen.stdout).toEqual([]);
      // What else check says of the host (not this file's): noted for the timings' reader.
      console.log(`check ${host} after PITR off: exit ${seen.code}, ${seen.stdout.length} bytes`);
      expect(seen.code, seen.stdout.slice(-2000)).toBe(0);
    }
  });
});
