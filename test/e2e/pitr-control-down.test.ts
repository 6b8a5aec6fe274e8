import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { removeAppText } from '../../src/inventory/edit.js';
import { forgetPitr } from './bootstrap-helpers.js';
import { containerOf, ensureLab, infra, onHost, REPO, resetInventory, stepTimer } from './harness.js';

/**
 * Issue 18, the control host stopped for a while (docs/apps.md "Point-in-time recovery", "When
 * the control host is away"). beanstock (REAL PostgreSQL 18 on hornbill) streams its WAL to
 * toucan with a slot capped at 48MB (`pitr_wal_cap`: three 16 MiB segments instead of the default
 * 1GB, which would take minutes to fill here). toucan's container is stopped for real (systemd
 * halts), then started again by `infra lab up`:
 *   (a) stopped briefly, under the cap: the slot holds the WAL, streaming resumes from where it
 *       stopped, the archive has no hole, check is clean on both hosts again;
 *   (b) stopped past the cap: check reports the slot over its cap (exit 2), PostgreSQL invalidated
 *       it and freed the WAL it held (the apps host's disk is not filled); back, toucan finds the
 *       gap, check says so, and one apply recovers: new slot, archive set aside, fresh base backup.
 * Time is sped up on hornbill: pg_switch_wal() ends a segment at once and CHECKPOINT runs the
 * checkpoint that would come within checkpoint_timeout anyway; both are PostgreSQL's own work.
 */
const CAP = '48MB';
const doc = parseDocument(
  ['xhosa', 'docflow'].reduce(removeAppText, readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8')),
);
doc.setIn(['apps', 'beanstock', 'pitr'], true);
doc.setIn(['apps', 'beanstock', 'pitr_wal_cap'], CAP);
const BASE = doc.toString();
const lab = (...args: string[]) => infra(['--lab', ...args]);
const PSQL =
  'docker compose -p beanstock -f /srv/infra/apps/beanstock/compose.yaml exec -T db psql -U beanstock -d beanstock -X -A -t -q -v ON_ERROR_STOP=1';
/** The test's own eye on beanstock's database (and its hand, to write and to speed time up). */
const sql = async (statement: string) => {
  const r = await onHost('hornbill', `${PSQL} <<'EOF'\n${statement}\nEOF`);
  expect(r.code, r.all).toBe(0);
  return r.stdout.trim();
};
const slot = () =>
  sql(
    "select (case when active then 't' else 'f' end) || ' ' || coalesce(wal_status, '-') || ' ' || coalesce(pg_walfile_name(restart_lsn), '-') from pg_replication_slots where slot_name = 'infra_pitr'",
  );
/** Polls about once a second until `ok`, for at most `seconds` of wall time. */
const until = async (what: string, ok: () => Promise<boolean>, seconds: number) => {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
};
type Item = { task: string; kind: string; message?: string; waitingFor?: string };
type Report = { hosts: { host: string; changes?: Item[]; findings?: Item[] }[] };
const items = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as Report).hosts.flatMap((h) => h[key] ?? []);
const kinds = (stdout: string, key: 'changes' | 'findings') => items(stdout, key).map((c) => c.kind);
const WAL = '/var/backups/infra-pitr/beanstock/wal';
const archive = async () =>
  (await onHost('toucan', `ls -1 ${WAL} 2>/dev/null`)).stdout
    .split('\n')
    .filter((f) => /^[0-9A-F]{24}(\.partial)?$/.test(f))
    .sort();
/** Segment numbers (16 MiB: 256 per log file) of the archive's names: a hole shows as a jump. */
const segNo = (name: string) =>
  Number.parseInt(name.slice(8, 16), 16) * 256 + Number.parseInt(name.slice(16, 24), 16);
/**
 * hornbill's check while toucan is away: exit 2, the stream findings as one wait on toucan (only
 * its receiver can end them; JSON names the wait, the human report lists what it waits to fix).
 */
const awayCheck = async () => {
  const json = await lab('check', 'hornbill', '--json');
  expect(json.code, json.stdout.slice(-2000)).toBe(2);
  expect(items(json.stdout, 'findings')).toEqual([
    expect.objectContaining({ task: 'pitr-source', kind: 'waiting', waitingFor: 'toucan' }),
  ]);
  const human = await lab('check', 'hornbill');
  expect(human.code).toBe(2);
  expect(human.stdout).toMatch(/waiting\s+pitr-source: waiting for toucan: run infra apply toucan/);
  return human.stdout;
};
const stopToucan = () => execa('docker', ['stop', containerOf('toucan')]);
const PITR_TASK = /^(pitr|service:infra-pitr)/;
/**
 * toucan started again (`infra lab up`), and its own stacks back: after a boot Dokploy's swarm
 * services take a while to run again, which is not this feature's doing; what PITR reports is
 * left for the test to read.
 */
const startToucan = async () => {
  const up = await infra(['lab', 'up']);
  expect(up.code, up.all).toBe(0);
  let last = '';
  await until(
    "toucan's stacks running after its boot",
    async () => {
      last = (await lab('check', 'toucan', '--json')).stdout;
      return items(last, 'findings').every((f) => PITR_TASK.test(f.task));
    },
    180,
  ).catch((e) => {
    throw new Error(`${e.message}:\n${last.slice(-2000)}`);
  });
};
const { times, timed } = stepTimer();

/** beanstock's stack before this file ran: kept with its PITR setup undone, or removed again. */
let stackBefore = true;
const clearToucan = () =>
  onHost(
    'toucan',
    'systemctl disable --now infra-pitr-wal@beanstock.service infra-pitr-base@beanstock.timer >/dev/null 2>&1; docker rm -f infra-pitr-wal-beanstock >/dev/null 2>&1; rm -rf /var/backups/infra-pitr /etc/infra/pitr /etc/systemd/system/infra-pitr-* /usr/local/sbin/infra-pitr-*; systemctl daemon-reload; true',
  );
const clearHornbill = () =>
  stackBefore
    ? onHost(
        'hornbill',
        `[ -f /srv/infra/apps/beanstock/compose.yaml ] || exit 0
# The walsender of a receiver just stopped may hold the slot a moment longer.
for i in 1 2 3 4 5 6 7 8 9 10; do ${PSQL} -c "select pg_drop_replication_slot('infra_pitr') from pg_replication_slots where slot_name = 'infra_pitr'" >/dev/null && break; sleep 1; done
${PSQL} -c 'drop table if exists pitr_away' -c 'drop role if exists infra_wal' -c 'alter system reset max_slot_wal_keep_size' >/dev/null
cd /srv/infra/apps/beanstock && docker compose -p beanstock exec -T --user postgres db sh -c 'f=$(psql -U beanstock -d beanstock -XAtc "show hba_file"); grep -Ev "# infra(-pitr)?$" "$f" > "$f.t"; cat "$f.t" > "$f"; rm -f "$f.t"'
${PSQL} -c 'select pg_reload_conf()' >/dev/null`,
      )
    : onHost(
        'hornbill',
        'docker ps -aq --filter label=io.infra.app=beanstock | xargs -r docker rm -f >/dev/null; docker volume ls -q --filter label=io.infra.app=beanstock | xargs -r docker volume rm >/dev/null; rm -rf /srv/infra/apps/beanstock /var/backups/infra/beanstock; true',
      );

describe('point-in-time recovery while the control host is away', () => {
  beforeAll(async () => {
    await ensureLab();
    stackBefore =
      (await onHost('hornbill', 'docker ps -q --filter label=io.infra.app=beanstock')).stdout.trim() !== '';
    resetInventory(BASE);
    await clearToucan();
    await clearHornbill();
    forgetPitr();
    await timed('setup', async () => {
      // toucan makes the secret, hornbill the role (and beanstock, if absent), toucan streams.
      for (const h of ['toucan', 'hornbill', 'toucan']) {
        const r = await lab('apply', h);
        expect(r.code, r.all.slice(-3000)).toBe(0);
      }
      await until('the first WAL on toucan', async () => (await archive()).length > 0, 120);
      await sql('CREATE TABLE pitr_away (id int primary key, name text)');
      // WAL arrives: the first base backup (taken by this apply or by the previous one, if WAL was
      // there already: either way there is one now and a second apply changes nothing).
      const r = await lab('apply', 'toucan', '--json');
      expect(r.code, r.stdout.slice(-3000)).toBe(0);
    });
    for (const h of ['toucan', 'hornbill']) {
      const again = await lab('apply', h, '--json');
      expect(again.code, again.stdout.slice(-3000)).toBe(0);
      expect(items(again.stdout, 'changes'), h).toEqual([]);
    }
    const base = await onHost('toucan', 'ls /var/backups/infra-pitr/beanstock/base/*/base.tar.gz');
    expect(base.code, base.all).toBe(0);
    expect(await sql('show max_slot_wal_keep_size')).toBe(CAP);
  });

  afterAll(async () => {
    console.log(`pitr-control-down timings (s): ${JSON.stringify(times)}`);
    await infra(['lab', 'up']); // toucan running again, whatever failed
    await clearToucan();
    await clearHornbill();
    forgetPitr();
    resetInventory();
  });

  it('(a) stopped under the cap: the slot holds the WAL, streaming resumes with no hole, check is clean', async () => {
    await sql("INSERT INTO pitr_away SELECT g, 'before ' || g FROM generate_series(1, 100) g");
    // The slot moves when pg_receivewal reports a flush, and without --synchronous it flushes at a
    // segment's end (receivelog.c): segments the setup ended may not be reported yet. Stopped then,
    // the slot would already hold them; "under the cap" starts from a receiver that caught up.
    await until(
      'the receiver to report the segments it has',
      async () =>
        Number(
          await sql(
            "select pg_current_wal_lsn() - restart_lsn from pg_replication_slots where slot_name = 'infra_pitr'",
          ),
        ) <
        16 * 1024 ** 2,
      60,
    );
    await timed('a: stop', stopToucan);
    await until('the slot inactive', async () => (await slot()).startsWith('f '), 60);
    await sql("INSERT INTO pitr_away SELECT g, 'while away ' || g FROM generate_series(101, 600) g");
    const lastSeg = await sql('select pg_walfile_name(pg_current_wal_lsn()); select pg_switch_wal()');
    await sql("INSERT INTO pitr_away SELECT g, 'after the switch ' || g FROM generate_series(601, 700) g");

    // Stopped, not over the cap: the slot still reserves what toucan has not received.
    const seen = await awayCheck();
    expect(seen).toMatch(/stopped: the slot infra_pitr is inactive \(\d+ MiB held, cap 48MB\)/);
    expect(seen).not.toMatch(/past the cap/);
    expect(await slot()).toMatch(/^f (reserved|extended) [0-9A-F]{24}$/);

    await timed('a: start', startToucan);
    const want = await sql('select pg_walfile_name(pg_current_wal_lsn())');
    await timed('a: resume', () =>
      until(
        `toucan to receive ${want}`,
        async () => (await archive()).some((f) => f.startsWith(want)) && (await slot()).startsWith('t '),
        180,
      ),
    );
    const names = (await archive()).map((f) => f.replace('.partial', ''));
    expect(names).toContain(lastSeg.split('\n')[0]);
    const nos = names.map(segNo);
    expect(
      nos.slice(1).every((n, i) => n === nos[i]! + 1),
      names.join(' '),
    ).toBe(true);
    expect((await onHost('toucan', 'test -e /var/backups/infra-pitr/beanstock/gap')).code).toBe(1);
    await timed('a: check', async () => {
      for (const h of ['hornbill', 'toucan']) {
        const r = await lab('check', h, '--json');
        expect(items(r.stdout, 'findings'), `${h}: ${r.stdout.slice(-2000)}`).toEqual([]);
        expect(r.code).toBe(0);
      }
    });
    expect(await sql('select count(*) from pitr_away')).toBe('700');
  });

  it('(b) stopped past the cap: check reports it, the slot is invalidated (disk spared), apply recovers with a fresh base backup', async () => {
    await timed('b: stop', stopToucan);
    await until('the slot inactive', async () => (await slot()).startsWith('f '), 60);
    const held = (await slot()).split(' ')[2]!;
    expect(held).toMatch(/^[0-9A-F]{24}$/);
    // Four segments ended (64 MiB of WAL positions), past the 48MB cap; then the checkpoint.
    for (let i = 0; i < 4; i++)
      await sql(
        `INSERT INTO pitr_away SELECT g, 'away ' || g FROM generate_series(${1001 + i * 100}, ${1100 + i * 100}) g; select pg_switch_wal()`,
      );
    await until(
      'the slot invalidated',
      async () => {
        await sql('CHECKPOINT');
        return (await slot()).startsWith('f lost');
      },
      30,
    );
    const seen = await awayCheck();
    expect(seen).toMatch(/stopped: the slot infra_pitr is inactive/);
    expect(seen).toMatch(
      /invalidated past the cap 48MB \(wal_status lost\): .*point-in-time recovery has a gap/,
    );
    // The WAL the slot held is gone from pg_wal: the cap, not the control host, bounds the disk.
    expect(await slot()).toBe('f lost -');
    expect(await sql(`select count(*) from pg_ls_waldir() where name = '${held}'`)).toBe('0');

    await timed('b: start', startToucan);
    // Back, toucan's receiver finds the slot reserves nothing while its archive has segments.
    await until(
      'the gap marker on toucan',
      async () => (await onHost('toucan', 'test -s /var/backups/infra-pitr/beanstock/gap')).code === 0,
      120,
    );
    const gap = await lab('check', 'toucan', '--json');
    expect(gap.code, gap.stdout.slice(-2000)).toBe(2);
    expect(kinds(gap.stdout, 'findings')).toContain('pitr-gap');
    expect(gap.stdout).toMatch(/has a gap after [0-9A-F]{24}/);

    const fixed = await timed('b: apply', () => lab('apply', 'toucan', '--json'));
    expect(fixed.code, fixed.stdout.slice(-3000)).toBe(0);
    expect(kinds(fixed.stdout, 'changes')).toContain('pitr-gap');
    const aside = await onHost(
      'toucan',
      'cd /var/backups/infra-pitr/beanstock && ls -d before-gap-*/wal before-gap-*/base/*/base.tar.gz base/*/base.tar.gz && ! test -e gap',
    );
    expect(aside.code, aside.all).toBe(0);
    expect(aside.stdout.split('\n')).toHaveLength(3);
    await until('a new slot streaming', async () => /^t (reserved|extended) /.test(await slot()), 60);
    await sql("INSERT INTO pitr_away SELECT g, 'back ' || g FROM generate_series(2001, 2100) g");
    await timed('b: converged', async () => {
      for (const h of ['toucan', 'hornbill']) {
        const again = await lab('apply', h, '--json');
        expect(items(again.stdout, 'changes'), `${h}: ${again.stdout.slice(-2000)}`).toEqual([]);
        const r = await lab('check', h, '--json');
        expect(items(r.stdout, 'findings'), `${h}: ${r.stdout.slice(-2000)}`).toEqual([]);
        expect(r.code).toBe(0);
      }
    });
    expect(await sql('select count(*) from pitr_away')).toBe('1200');
  });
});
