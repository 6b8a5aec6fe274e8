import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeAppText } from '../../src/inventory/edit.js';
import { containerName } from '../../src/lab/constants.js';
import { ensureLab, infra, onHost, REPO, resetInventory, WORK } from './harness.js';

/**
 * Issue 17 on the lab: the control host's copies of every app's dump, pulled over the lab
 * tailnet from the apps host's read-only user, with REAL PostgreSQL 18 on both ends. Runs after
 * the suites that bootstrap toucan (file order), on the same lab: `bootstrap` here is a re-run.
 */
const BASE = `${['xhosa', 'docflow'].reduce(removeAppText, readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8'))}
# The off-site copy (docs/apps.md "Off-site"): --lab points it at the lab's rclone serve restic.
backups:
  offsite:
    repository: rest:https://backup.example.com:8000/infra/
    password: env:RESTIC_PASSWORD
`;
/** This lab's restic repository, as the off-site server stores it (src/lab/offsite.ts). */
const REPO_DIR = path.join(WORK, '.infra', 'lab', 'offsite', 'infra');
const packs = () => {
  try {
    return readdirSync(path.join(REPO_DIR, 'data'), { recursive: true }).filter((f) =>
      statSync(path.join(REPO_DIR, 'data', String(f))).isFile(),
    ).length;
  } catch {
    return 0;
  }
};
const RESTIC =
  'set -a; . /etc/infra/offsite/env; set +a; export RESTIC_PASSWORD_FILE=/etc/infra/offsite/password; restic';
const lab = (...args: string[]) => infra(['--lab', ...args]);
const sql = async (statement: string) => {
  const r = await lab('db', 'psql', 'beanstock', '-c', statement);
  expect(r.code, r.all).toBe(0);
  return r.stdout.trim();
};
const COPIES = '/var/backups/infra-copies/beanstock';
const DUMPS = '/var/backups/infra/beanstock';
const sha = async (host: string, file: string) =>
  (await onHost(host, `sha256sum ${file}`)).stdout.split(' ')[0];
const dumpName = (out: string) => /(beanstock-\d{8}T\d{6}Z\.dump)/.exec(out)![1]!;

/** Tasks of this issue on either host. */
const MINE =
  /^(backup-|user:infra-pull|file:\/usr\/local\/sbin\/infra-(backup|pg-backup)|file:\/etc\/infra\/backup-pull|file:\/etc\/sudoers\.d\/infra-backup|file:\/var\/lib\/infra-pull|file:\/etc\/systemd\/system\/infra-(backup|pg-backup)|service:infra-(backup|pg-backup)|app:)/;
type Item = { task: string; kind: string };
const mine = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as { hosts: { changes: Item[]; findings: Item[] }[] }).hosts
    .flatMap((h) => h[key])
    .filter((c) => MINE.test(c.task));

const clearApps = async () => {
  await onHost(
    'hornbill',
    'command -v docker >/dev/null || exit 0; docker ps -aq --filter label=io.infra.app | xargs -r docker rm -f >/dev/null; docker volume ls -q --filter label=io.infra.app | xargs -r docker volume rm >/dev/null; rm -rf /srv/infra/apps /var/backups/infra; true',
  );
  await onHost(
    'toucan',
    'rm -rf /var/backups/infra-copies /run/infra-backup-pull /var/lib/infra-backup-offsite',
  );
  rmSync(REPO_DIR, { recursive: true, force: true });
};

describe('backups that survive the apps host: copies on the control server', () => {
  afterAll(async () => {
    await clearApps();
    resetInventory();
  });

  beforeAll(async () => {
    resetInventory(BASE);
    await ensureLab();
    await clearApps();
    const t0 = Date.now();
    // toucan first (its pull key is learned), then hornbill (which authorizes it).
    for (const h of ['toucan', 'hornbill']) {
      const r = await lab('bootstrap', h);
      expect(r.code, r.all.slice(-3000)).toBe(0);
    }
    console.log(`bootstrap re-runs: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  });

  it('a second apply of both hosts changes nothing, and check finds nothing', async () => {
    for (const h of ['toucan', 'hornbill']) {
      const again = await lab('apply', h, '--json');
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
      expect(mine((await lab('check', h, '--json')).stdout, 'findings')).toEqual([]);
    }
    const t = await onHost(
      'toucan',
      'systemctl is-enabled infra-backup-pull.timer; systemctl is-active infra-backup-pull.timer; stat -c %a /etc/infra/backup-pull/id_ed25519',
    );
    expect(t.stdout.split('\n')).toEqual(['enabled', 'active', '600']);
  });

  it('1000 rows -> infra backup -> the copy on toucan has the same sha256; infra backups lists both places', async () => {
    await sql(
      "CREATE TABLE beans (id int primary key, name text); INSERT INTO beans SELECT g, 'bean ' || g FROM generate_series(1, 1000) g",
    );
    const b = await lab('backup', 'beanstock');
    expect(b.code, b.all).toBe(0);
    // New: this dump, and the first one bootstrap took (the nightly pull had not run yet).
    expect(b.stdout).toMatch(
      /toucan: beanstock: [12] new, [12] cop(y|ies) in \/var\/backups\/infra-copies\/beanstock/,
    );
    const name = dumpName(b.stdout);
    expect(await sha('toucan', `${COPIES}/${name}`)).toBe(await sha('hornbill', `${DUMPS}/${name}`));
    const st = await onHost('toucan', `stat -c '%a %U' ${COPIES} ${COPIES}/${name} ${COPIES}/pg_password`);
    expect(st.stdout.split('\n')).toEqual(['700 root', '600 root', '600 root']);
    expect(await sha('toucan', `${COPIES}/pg_password`)).toBe(
      await sha('hornbill', '/srv/infra/apps/beanstock/pg_password'),
    );
    // The manifest written at dump time: 1000 rows of public.beans.
    const m = await onHost('toucan', `cat ${COPIES}/${name}.manifest`);
    expect(m.stdout).toMatch(/^major\t18\ntable\tpublic\.beans\t1000\t[0-9a-f]{32}$/);

    const list = await lab('backups', 'beanstock');
    expect(list.code, list.all).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${name}\\s+yes\\s+yes`));
    const j = JSON.parse((await lab('backups', 'beanstock', '--json')).stdout);
    expect(j.control.copies.map((c: { name: string }) => c.name)).toContain(name);
    // The pull again: nothing new, nothing re-fetched.
    const again = await onHost('toucan', '/usr/local/sbin/infra-backup-pull');
    expect(again.stdout, again.all).toMatch(/beanstock: 0 new, [12] cop/);
  });

  it("from hornbill's root shell the copies on toucan cannot be deleted or overwritten", async () => {
    const name = (await onHost('toucan', `ls ${COPIES} | grep -E '\\.dump$' | tail -n 1`)).stdout;
    const before = await sha('toucan', `${COPIES}/${name}`);
    const tailnet = (
      await onHost('toucan', "ip -4 -o addr show dev tailscale0 | awk '{print $4}' | cut -d/ -f1")
    ).stdout;
    expect(tailnet).toMatch(/^100\./);
    // No key on hornbill opens toucan, whichever user it tries.
    for (const user of ['root', 'infra-pull'])
      for (const who of ['root', 'infra-pull']) {
        const r = await onHost(
          'hornbill',
          `runuser -u ${who} -- ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 ${user}@${tailnet} rm -rf /var/backups/infra-copies`,
        );
        expect(r.code, `${who} on hornbill as ${user}@toucan`).not.toBe(0);
      }
    // What hornbill's root does control: what it serves. It rewrites the dump and its checksum, and
    // deletes the rest: toucan never fetches a name again nor deletes what the apps host dropped.
    await onHost('hornbill', `cd ${DUMPS} && printf evil > ${name} && sha256sum ${name} > ${name}.sha256`);
    const pull = await onHost('toucan', '/usr/local/sbin/infra-backup-pull');
    expect(pull.code, pull.all).toBe(0);
    expect(await sha('toucan', `${COPIES}/${name}`)).toBe(before);
    await onHost('hornbill', `rm -f ${DUMPS}/*`);
    expect((await onHost('toucan', '/usr/local/sbin/infra-backup-pull')).code).toBe(0);
    expect(await sha('toucan', `${COPIES}/${name}`)).toBe(before);
    // And the pull key itself only reads: any other request is refused by the forced command.
    const hornbill = (await onHost('toucan', 'cat /etc/infra/backup-pull/apps.conf')).stdout.match(
      /^beanstock (\S+) (\d+)/m,
    )!;
    const ssh = `ssh -i /etc/infra/backup-pull/id_ed25519 -o BatchMode=yes -o UserKnownHostsFile=/etc/infra/backup-pull/known_hosts -p ${hornbill[2]} infra-pull@${hornbill[1]}`;
    await onHost('hornbill', `mkdir -p ${DUMPS} && touch ${DUMPS}/canary`);
    for (const req of [
      `rm -rf ${DUMPS}`,
      'sh -c id',
      'get beanstock ../../../../etc/shadow',
      'get beanstock *',
    ])
      expect((await onHost('toucan', `${ssh} ${JSON.stringify(req)}`)).code, req).not.toBe(0);
    expect((await onHost('hornbill', `test -f ${DUMPS}/canary && echo kept`)).stdout).toBe('kept');
  });

  it('a dump that arrives with the wrong checksum is not kept, and check on toucan reports the failed copy', async () => {
    const b = await lab('backup', 'beanstock');
    expect(b.code, b.all).toBe(0);
    const good = dumpName(b.stdout);
    // A dump altered on hornbill after its checksum was written (a bad disk, a bad actor).
    await onHost(
      'hornbill',
      `cd ${DUMPS} && n=beanstock-20200101T000000Z.dump && cp ${good} $n && sha256sum $n ${good}.manifest | sed 's/${good}/'"$n"'/' > $n.sha256 && printf x >> $n`,
    );
    const pull = await onHost('toucan', '/usr/local/sbin/infra-backup-pull');
    expect(pull.code).toBe(1);
    expect(pull.stderr).toMatch(
      /beanstock-20200101T000000Z\.dump arrived with sha256 [0-9a-f]{64}, the apps host's checksum says [0-9a-f]{64}: not kept/,
    );
    const files = (await onHost('toucan', `ls -a ${COPIES}`)).stdout;
    expect(files).not.toContain('20200101T000000Z');
    expect(files).not.toContain('.partial');
    const c = await lab('check', 'toucan', '--json');
    expect(c.code).toBe(2);
    expect(mine(c.stdout, 'findings').map((f) => f.kind)).toEqual(['backup-copy-failed']);
    // Fixed on hornbill, apply copies again and clears the finding; a second apply changes nothing.
    await onHost('hornbill', `rm -f ${DUMPS}/beanstock-20200101T000000Z.dump*`);
    const fix = await lab('apply', 'toucan', '--json');
    expect(mine(fix.stdout, 'changes').map((f) => f.kind)).toEqual(['backup-copy-failed']);
    expect(mine((await lab('apply', 'toucan', '--json')).stdout, 'changes')).toEqual([]);
  });

  it('verify --from control and --from apps: a throwaway PostgreSQL 18 on toucan finds 1000/1000 rows, then is gone', async () => {
    for (const from of ['control', 'apps']) {
      const t0 = Date.now();
      const v = await lab('backup', 'verify', 'beanstock', '--from', from);
      expect(v.code, v.all).toBe(0);
      expect(v.stdout).toMatch(/public\.beans\s+1000\/1000 rows {2}ok/);
      expect(v.stdout).toMatch(/every table matches its manifest/);
      console.log(`verify --from ${from}: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
    expect((await onHost('toucan', 'docker ps -aq --filter name=infra-drill-')).stdout).toBe('');
    expect((await onHost('toucan', 'ls /var/tmp | grep infra-drill || true')).stdout).toBe('');
    const t = await onHost(
      'toucan',
      'systemctl is-enabled infra-backup-drill.timer; systemctl is-active infra-backup-drill.timer',
    );
    expect(t.stdout.split('\n')).toEqual(['enabled', 'active']);
    expect(mine((await lab('check', 'toucan', '--json')).stdout, 'findings')).toEqual([]);
  });

  it('off-site (restic through rclone serve restic): stale and unreachable reported, a killed upload leaves the last snapshot, verify --from offsite 1000/1000, restore --from offsite brings deleted rows back', async () => {
    const t0 = Date.now();
    const kinds = async () =>
      mine((await lab('check', 'toucan', '--json')).stdout, 'findings').map((f) => f.kind);
    // The copy infra backup made went off-site at once; then a repository whose newest snapshot
    // is 3 days old (made by hand with restic's --time), which check reports and apply replaces.
    expect(packs()).toBeGreaterThan(0);
    rmSync(REPO_DIR, { recursive: true, force: true });
    const old = await onHost(
      'toucan',
      `${RESTIC} init -q && ${RESTIC} backup -q --host "$(uname -n)" --tag infra --time "$(date -u -d '-3 days' '+%F %T')" /etc/hostname`,
    );
    expect(old.code, old.all).toBe(0);
    expect(await kinds()).toEqual(['offsite-snapshot-stale']);
    const fix = await lab('apply', 'toucan', '--json');
    expect(mine(fix.stdout, 'changes').map((c) => c.kind)).toEqual(['offsite-snapshot-stale']);
    expect(mine((await lab('apply', 'toucan', '--json')).stdout, 'changes')).toEqual([]);
    const snaps = async () =>
      JSON.parse((await onHost('toucan', `${RESTIC} snapshots --json`)).stdout) as { id: string }[];
    const good = await snaps();
    // An upload killed midway (200 MB more to send, restic SIGKILLed once packs arrive).
    await onHost(
      'toucan',
      'mkdir -p /var/backups/infra-copies/zz-bulk && head -c 200M /dev/urandom > /var/backups/infra-copies/zz-bulk/blob',
    );
    const before = packs();
    await onHost(
      'toucan',
      'setsid sh -c "/usr/local/sbin/infra-backup-offsite backup >/run/offsite-run.log 2>&1" </dev/null >/dev/null 2>&1 &',
    );
    for (let i = 0; i < 300 && packs() < before + 2; i++) await new Promise((r) => setTimeout(r, 50));
    const kill = await onHost(
      'toucan',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
      'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = restic ] && kill -9 ${p#/proc/} && echo killed; done',
    );
    expect(kill.stdout, 'restic was still uploading').toBe('killed');
    for (let i = 0; i < 50; i++) {
      if ((await onHost('toucan', 'grep -q ^failed /var/lib/infra-backup-offsite/last')).code === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(packs()).toBeGreaterThan(before);
    // No snapshot came of it: the latest is still the good one; check names the failed run.
    expect((await snaps()).map((x) => x.id)).toEqual(good.map((x) => x.id));
    expect(await kinds()).toEqual(['offsite-backup-failed']);
    // The next run completes (the dead run's lock is stale), the repository checks whole.
    const again = await lab('apply', 'toucan', '--json');
    expect(mine(again.stdout, 'changes').map((c) => c.kind)).toEqual(['offsite-backup-failed']);
    // One new snapshot (forget keeps one a day: it may replace today's earlier one).
    const now = (await snaps()).map((x) => x.id);
    expect(now.filter((id) => !good.some((g) => g.id === id))).toHaveLength(1);
    const check = await onHost('toucan', `${RESTIC} check -q`);
    expect(check.code, check.all).toBe(0);
    await onHost('toucan', 'rm -rf /var/backups/infra-copies/zz-bulk /run/offsite-run.log');
    // The newest snapshot restores: 1000/1000 rows from off-site.
    const v = await lab('backup', 'verify', 'beanstock', '--from', 'offsite');
    expect(v.code, v.all).toBe(0);
    expect(v.stdout).toMatch(/copy on off-site repository \(snapshot [0-9a-f]{8} of /);
    expect(v.stdout).toMatch(/public\.beans\s+1000\/1000 rows {2}ok/);
    // A real restore from off-site: rows lost on hornbill come back from the newest snapshot.
    const newest = (await onHost('toucan', `ls ${COPIES} | grep -E '\\.dump$' | sort | tail -n 1`)).stdout;
    await sql('DELETE FROM beans WHERE id > 400');
    const r = await lab('restore', 'beanstock', newest, '--from', 'offsite', '--yes');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/placed \S+ from the off-site repository's copy/);
    expect(await sql('SELECT count(*) FROM beans')).toBe('1000');
    expect((await onHost('toucan', 'ls /var/tmp | grep infra-offsite-restore || true')).stdout).toBe('');
    // The off-site server down: check says so, plainly; back up, nothing to report.
    const c = containerName('offsite', path.join(WORK, '.infra', 'lab'));
    await execa('docker', ['stop', '-t', '2', c]);
    try {
      const down = await lab('check', 'toucan', '--json');
      expect(down.code).toBe(2);
      const f = mine(down.stdout, 'findings');
      expect(f.map((x) => x.kind)).toEqual(['offsite-unreachable']);
      expect(JSON.stringify(f)).toMatch(/cannot be read/);
    } finally {
      await execa('docker', ['start', c]);
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(await kinds()).toEqual([]);
    console.log(`off-site: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  });

  it('a copy corrupted on toucan: verify fails naming it, restore --from control refuses it, check reports it', async () => {
    const name = (await onHost('toucan', `ls ${COPIES} | grep -E '\\.dump$' | sort | tail -n 1`)).stdout;
    await onHost('toucan', `printf x >> ${COPIES}/${name}`);
    const v = await lab('backup', 'verify', 'beanstock', '--from', 'control');
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(`the copy ${COPIES}/${name} fails its sha256`);
    const before = await sql('SELECT count(*) FROM beans');
    const r = await lab('restore', 'beanstock', name, '--from', 'control', '--yes');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`refusing to restore toucan:${COPIES}/${name}: it does not match its sha256`),
    );
    expect(await sql('SELECT count(*) FROM beans')).toBe(before);
    const c = await lab('check', 'toucan', '--json');
    expect(c.code).toBe(2);
    expect(mine(c.stdout, 'findings').map((f) => f.kind)).toEqual(['backup-drill-failed']);
    // The corrupt copy removed by hand, apply drills the newest good copy and the finding clears.
    await onHost('toucan', `rm -f ${COPIES}/${name}*`);
    const fix = await lab('apply', 'toucan', '--json');
    expect(mine(fix.stdout, 'changes').map((f) => f.kind)).toEqual(['backup-drill-failed']);
    expect(mine((await lab('check', 'toucan', '--json')).stdout, 'findings')).toEqual([]);
  });

  it("toucan's disk full: the copy fails clearly, no partial counted, the older copies untouched", async () => {
    const d = COPIES;
    const before = (await onHost('toucan', `cd ${d} && sha256sum *.dump`)).stdout;
    // A tmpfs just larger than what is there, over the copies' directory, then filled.
    const full = await onHost(
      'toucan',
      `set -e; rm -rf /run/xc; cp -a ${d} /run/xc; mount -t tmpfs -o size=$(( $(du -sk ${d} | cut -f1) + 64 ))k,mode=700 copies-full ${d}; cp -a /run/xc/. ${d}/; dd if=/dev/zero of=${d}/.filler bs=4k 2>/dev/null || true`,
    );
    expect(full.code, full.all).toBe(0);
    try {
      const b = await lab('backup', 'beanstock');
      expect(b.code).toBe(1);
      expect(b.stderr).toMatch(/is on hornbill, but copying beanstock's backups to toucan failed/);
      expect(b.stderr).toMatch(
        /is \/var\/backups\/infra-copies\/beanstock full\? .* free; older copies are kept/,
      );
      const left = (await onHost('toucan', `ls -a ${d}`)).stdout;
      expect(left).not.toContain('.partial');
      expect((await onHost('toucan', `cd ${d} && sha256sum *.dump`)).stdout).toBe(before);
      const c = await lab('check', 'toucan', '--json');
      expect(mine(c.stdout, 'findings').map((f) => f.kind)).toContain('backup-copy-failed');
    } finally {
      await onHost('toucan', `umount ${d}; cp -a /run/xc/. ${d}/ 2>/dev/null; rm -rf /run/xc`);
    }
    // Space again: apply copies the missed dump and clears the finding.
    const fix = await lab('apply', 'toucan', '--json');
    expect(fix.code, fix.stdout).toBe(0);
    expect(mine((await lab('check', 'toucan', '--json')).stdout, 'findings')).toEqual([]);
  });

  it('a rebuilt hornbill: reset, bootstrap, restore from toucan: rows and the original password are back', async () => {
    const b = await lab('backup', 'beanstock');
    expect(b.code, b.all).toBe(0);
    const name = dumpName(b.stdout);
    const pw = await sha('toucan', `${COPIES}/pg_password`);
    const t0 = Date.now();
    const reset = await infra(['lab', 'reset', 'hornbill']);
    expect(reset.code, reset.all).toBe(0);
    const boot = await lab('bootstrap', 'hornbill');
    expect(boot.code, boot.all.slice(-3000)).toBe(0);
    console.log(`reset + bootstrap hornbill: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    // A new, empty server with a new password.
    expect(await sql("SELECT count(*) FROM pg_tables WHERE tablename = 'beans'")).toBe('0');
    expect(await sha('hornbill', '/srv/infra/apps/beanstock/pg_password')).not.toBe(pw);
    const r = await lab('restore', 'beanstock', name, '--from', 'control', '--yes');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/original password is back/);
    expect(await sql('SELECT count(*) FROM beans')).toBe('1000');
    expect(await sha('hornbill', '/srv/infra/apps/beanstock/pg_password')).toBe(pw);
    // The original password opens the database over TCP (what an app uses).
    const url = new URL((await lab('db', 'url', 'beanstock', '--show-password')).stdout.trim());
    const login = await onHost(
      'hornbill',
      `docker exec -e PGPASSWORD='${decodeURIComponent(url.password)}' beanstock-db-1 psql -h 127.0.0.1 -U beanstock -d beanstock -Atc 'select count(*) from beans'`,
    );
    expect(login.stdout, login.all).toBe('1000');
    // toucan learns the new host (its key, its address); then both hosts are in sync.
    const t = await lab('apply', 'toucan', '--json');
    expect(t.code, t.stdout).toBe(0);
    for (const h of ['hornbill', 'toucan']) {
      const again = await lab('apply', h, '--json');
      expect(mine(again.stdout, 'changes'), again.stdout).toEqual([]);
    }
    const pull = await onHost('toucan', '/usr/local/sbin/infra-backup-pull');
    expect(pull.code, pull.all).toBe(0);
  });
});
