import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropInPath } from '../../src/tasks/boot-order.js';
import { changesOf, labHost, run, sleep, spawnInfra, sshWorks, waitOnHost } from './bootstrap-helpers.js';
import { answers, containerOf, ensureLab, infra, onHost, resetInventory } from './harness.js';

/**
 * Day-two faults on the lab (docs/day-two.md): reboots, a dead Docker, the operator killed
 * mid-apply. The hosts are bootstrapped and converged once (toucan: control, hornbill: the
 * three apps); every drill ends with `check` exiting 0 and each app's rows intact. Real: Debian,
 * systemd (a reboot is systemd halting and booting again), sshd, UFW, Docker, PostgreSQL.
 * Stand-ins: tailscale (it boots like tailscaled: tailscale0 gets its address only seconds
 * after the daemon is READY) and cloudflared.
 */
const APPS = ['xhosa', 'beanstock', 'docflow'];
const GUARD = '20';
const timings: string[] = [];

async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    timings.push(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    process.stderr.write(`[day-two] ${timings.at(-1)}\n`);
  }
}

/** One row per app, written before the faults, read back after each. */
const psql = (app: string, statement: string) =>
  onHost('hornbill', `docker exec ${app}-db-1 psql -U ${app} -d ${app} -tAc ${JSON.stringify(statement)}`);

async function rowsIntact() {
  for (const app of APPS) {
    const r = await psql(app, 'SELECT note FROM drill ORDER BY note');
    expect(r.code, r.all).toBe(0);
    expect(r.stdout.trim()).toBe(`kept by ${app}`);
  }
}

/** Every container that should run (restart policy other than "no") runs, and is healthy if it can say. */
const STACKS_UP = `for c in $(docker ps -aq); do docker inspect -f '{{.Name}} {{.HostConfig.RestartPolicy.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c"; done | awk '$2 != "no" && ($3 != "running" || ($4 != "healthy" && $4 != "none")) {bad=1; print "NOT UP:", $0} END {exit bad}'`;

async function stacksUp(host: string, timeoutMs = 180_000): Promise<void> {
  const t0 = Date.now();
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    const r = await onHost(host, STACKS_UP);
    if (r.code === 0) return;
    last = r.all;
    await sleep(2000);
  }
  throw new Error(`${host}: stacks not up after ${timeoutMs / 1000} s:\n${last}`);
}

/** The apps' published ports, as docker reports them (host:port on the tailnet address). */
async function pgPorts(): Promise<{ app: string; address: string; port: number }[]> {
  const out: { app: string; address: string; port: number }[] = [];
  for (const app of APPS) {
    const r = await onHost('hornbill', `docker port ${app}-db-1 5432/tcp`);
    expect(r.code, r.all).toBe(0);
    const [address, port] = r.stdout.trim().split('\n')[0]!.split(':');
    out.push({ app, address: address!, port: Number(port) });
  }
  return out;
}

/** After a boot with no infra command run: everything up, data there, timers set, tailnet only. */
async function cameBackByItself(host: string) {
  await stacksUp(host);
  if (host === 'hornbill') {
    await rowsIntact();
    const tailnet = labHost('hornbill').tailnetAddress;
    for (const p of await pgPorts()) {
      expect(p.address, p.app).toBe(tailnet);
      expect(await answers(p.address, p.port, 3000), `${p.app} on ${p.address}:${p.port}`).toBe(true);
    }
    for (const app of APPS) {
      const t = await onHost(
        'hornbill',
        `systemctl is-active infra-pg-backup-${app}.timer && systemctl show -p NextElapseUSecRealtime --value infra-pg-backup-${app}.timer`,
      );
      expect(t.stdout.split('\n')[0], t.all).toBe('active');
      expect(t.stdout.split('\n')[1]?.trim(), `${app}: next backup`).not.toBe('');
    }
  }
  expect(await sshWorks(host, 'tailnet')).toBe(true);
  expect(await sshWorks(host, 'public')).toBe(false);
}

async function checkClean(...hosts: string[]) {
  const r = await run('check', ...hosts);
  expect(r.code, r.all).toBe(0);
}

async function convergedTwice(...hosts: string[]) {
  const first = await changesOf('apply', ...hosts, '--guard-timeout', GUARD);
  expect(first.code, first.stdout).toBe(0);
  const second = await changesOf('apply', ...hosts, '--guard-timeout', GUARD);
  expect(second.code, second.stdout).toBe(0);
  expect(second.changes, second.stdout).toBe(0);
}

/**
 * The stand-in's "control round trip" (docs/lab.md), raised from 2 s to 10 s on these hosts so
 * that Docker, were it not ordered after the tailnet, would surely start before the address
 * exists: the reboot drills then prove the drop-in, not a lucky race.
 */
const SLOW_CONTROL = `sed -i '/^TS_LAB_CONTROL_DELAY=/d' /etc/default/tailscaled && echo TS_LAB_CONTROL_DELAY=10 >> /etc/default/tailscaled`;
const NORMAL_CONTROL = `sed -i '/^TS_LAB_CONTROL_DELAY=/d' /etc/default/tailscaled`;

const reboot = async (host: string) => {
  const r = await infra(['lab', 'reboot', host]);
  expect(r.code, r.all).toBe(0);
};

describe('day two: reboots, a dead Docker, a killed run', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    for (const h of ['toucan', 'hornbill']) {
      const b = await run('bootstrap', h, '--guard-timeout', GUARD);
      expect(b.code, b.all).toBe(0);
    }
    const a = await run('apply', '--guard-timeout', GUARD);
    expect(a.code, a.all).toBe(0);
    for (const app of APPS) {
      const r = await psql(
        app,
        `CREATE TABLE IF NOT EXISTS drill (note text); TRUNCATE drill; INSERT INTO drill VALUES ('kept by ${app}')`,
      );
      expect(r.code, r.all).toBe(0);
    }
    for (const h of ['toucan', 'hornbill']) expect((await onHost(h, SLOW_CONTROL)).code).toBe(0);
    await checkClean();
  });

  afterAll(async () => {
    for (const h of ['toucan', 'hornbill']) await onHost(h, NORMAL_CONTROL);
  });

  it('reboot hornbill: with no infra command run after, it comes back whole over the tailnet only', async () => {
    await timed('reboot hornbill', async () => {
      await reboot('hornbill');
      await cameBackByItself('hornbill');
      // The boot order held because of the drop-in: Docker waited for tailscale0's address.
      const j = await onHost('hornbill', 'journalctl -b -o cat -u docker.service | head -n 5');
      expect((await onHost('hornbill', 'systemctl show -p ExecStartPre --value docker')).stdout).toContain(
        'wait-tailnet',
      );
      expect(j.code).toBe(0);
      await checkClean();
    });
  });

  it('reboot both at once: both come back by themselves; check finds nothing', async () => {
    await timed('reboot both', async () => {
      await Promise.all([reboot('toucan'), reboot('hornbill')]);
      await cameBackByItself('toucan');
      await cameBackByItself('hornbill');
      await checkClean();
    });
  });

  it('without the boot-order drop-in a reboot leaves the tailnet ports down: check names both, apply restores', async () => {
    await timed('boot order removed', async () => {
      await onHost('hornbill', `rm ${dropInPath('docker.service')} && systemctl daemon-reload`);
      const drift = await run('check', 'hornbill');
      expect(drift.code, drift.all).toBe(2);
      expect(drift.all).toContain(dropInPath('docker.service'));
      await reboot('hornbill');
      // Docker started before tailscaled had the address: the apps' PostgreSQL could not bind.
      await waitOnHost('hornbill', 'ip -4 -o addr show dev tailscale0 | grep -q inet', 30_000);
      await sleep(3000);
      const down = await onHost('hornbill', 'docker ps --format "{{.Names}}" | grep -c -- "-db-1$" || true');
      expect(Number(down.stdout.trim()), 'app databases running without the drop-in').toBeLessThan(
        APPS.length,
      );
      const seen = await run('check', 'hornbill');
      expect(seen.code, seen.all).toBe(2);
      await convergedTwice('hornbill');
      await stacksUp('hornbill');
      await rowsIntact();
      await checkClean();
    });
  });

  it('Docker stopped and its socket gone: check names it, apply restores it, the stacks come back', async () => {
    await timed('docker dead', async () => {
      await onHost(
        'hornbill',
        'systemctl stop docker.socket docker.service containerd.service; rm -f /run/docker.sock',
      );
      const r = await run('check', 'hornbill');
      expect(r.code, r.all).toBe(2);
      expect(r.all).toMatch(/start docker\.service \(is (inactive|failed)\)/);
      await convergedTwice('hornbill');
      expect((await onHost('hornbill', 'test -S /run/docker.sock')).code).toBe(0);
      await stacksUp('hornbill');
      await rowsIntact();
      await checkClean();
    });
  });

  it('the operator SIGKILLed mid-apply changing UFW and sshd: the host rolls back, the lock is released, the next apply converges', async () => {
    await timed('operator killed', async () => {
      await onHost(
        'hornbill',
        'ufw --force disable >/dev/null && rm /etc/ssh/sshd_config.d/00-infra.conf && systemctl reload ssh',
      );
      const child = spawnInfra(['apply', 'hornbill', '--guard-timeout', GUARD]);
      // Once the tailnet rule is loaded the firewall is live: kill before infra disarms the switch.
      const live = await waitOnHost(
        'hornbill',
        'iptables -S ufw-user-input 2>/dev/null | grep -q tailscale0',
        120_000,
      );
      child.kill('SIGKILL');
      const killed = await child;
      expect(live, killed.all).toBe(true);
      expect(killed.signal).toBe('SIGKILL');
      await sleep((Number(GUARD) + 5) * 1000);
      // The dead-man switch undid the firewall change; the host is reachable as before the run.
      expect((await onHost('hornbill', 'ufw status')).stdout).toMatch(/Status: inactive/);
      expect(await sshWorks('hornbill', 'tailnet')).toBe(true);
      // The run's lock died with its connection: the next apply starts at once and converges.
      const t0 = Date.now();
      await convergedTwice('hornbill');
      expect(Date.now() - t0).toBeLessThan(240_000);
      expect(await sshWorks('hornbill', 'public')).toBe(false);
      await rowsIntact();
      await checkClean();
    });
  });

  it('a power cut (docker kill) mid-apply: after boot the next apply converges, files whole, no secret regenerated', async () => {
    await timed('power cut', async () => {
      const SECRETS = 'find /srv/infra -type f -perm 600 | sort | xargs -r sha256sum';
      const before = (await onHost('hornbill', SECRETS)).stdout;
      expect(before).toContain('pg_password');
      // Work for the apply: files it must write again, and a unit to re-enable.
      await onHost(
        'hornbill',
        'rm -f /srv/infra/apps/docflow/compose.yaml /etc/systemd/system/infra-pg-backup-xhosa.timer && systemctl daemon-reload',
      );
      const child = spawnInfra(['apply', 'hornbill', '--guard-timeout', GUARD]);
      const writing = await waitOnHost('hornbill', 'test -f /srv/infra/apps/docflow/compose.yaml', 120_000);
      const { execa } = await import('execa');
      await execa('docker', ['kill', containerOf('hornbill')]);
      const cut = await child;
      expect(writing, cut.all).toBe(true);
      expect(cut.exitCode, cut.all).not.toBe(0);
      const up = await infra(['lab', 'up']);
      expect(up.code, up.all).toBe(0);
      for (let i = 0; i < 60 && !(await sshWorks('hornbill', 'tailnet')); i++) await sleep(1000);
      await convergedTwice('hornbill');
      expect((await onHost('hornbill', SECRETS)).stdout).toBe(before);
      await stacksUp('hornbill');
      await rowsIntact();
      await checkClean();
    });
  });

  it('the backup disk full: infra backup fails clearly, no partial dump counted, older ones untouched, check reports it', async () => {
    await timed('backup disk full', async () => {
      const d = '/var/backups/infra/xhosa';
      const LIST = `cd ${d} && ls -A | sort && sha256sum xhosa-*.dump`;
      const before = await onHost('hornbill', LIST);
      expect(before.stdout, before.all).toMatch(/xhosa-\d{8}T\d{6}Z\.dump/);
      // A small filesystem over the backup dir holding exactly what was there, then filled up.
      const full = await onHost(
        'hornbill',
        `set -e; rm -rf /run/xb; cp -a ${d} /run/xb; mount -t tmpfs -o size=$(( $(du -sk ${d} | cut -f1) + 256 ))k,mode=700 drill-full ${d}; cp -a /run/xb/. ${d}/; dd if=/dev/zero of=${d}/.filler bs=4k 2>/dev/null || true; df -k ${d} | tail -n 1`,
      );
      expect(full.code, full.all).toBe(0);
      try {
        const r = await run('backup', 'xhosa');
        expect(r.code, r.all).toBe(1);
        expect(r.all).toMatch(/backup of xhosa|infra-pg-backup/);
        expect(r.all).toMatch(/does not read back whole|no space left on device|empty dump/i);
        expect(r.all).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
        // Nothing new counts as a backup; the older ones are byte for byte as they were.
        const after = await onHost('hornbill', `${LIST} | grep -v '^.filler$'`);
        expect(after.stdout.replace('.filler\n', '')).toBe(before.stdout);
        const seen = await run('check', 'hornbill', '--json');
        expect(seen.code, seen.all).toBe(2);
        const found = (JSON.parse(seen.stdout) as { hosts: { findings: { task: string; kind: string }[] }[] })
          .hosts[0]!.findings;
        expect(found).toContainEqual(
          expect.objectContaining({ task: 'app:xhosa:backup-failure', kind: 'backup-failed' }),
        );
      } finally {
        await onHost('hornbill', `umount ${d}; rm -rf /run/xb`);
      }
      // Space again: apply backs up (clearing the record); the second run changes nothing.
      await convergedTwice('hornbill');
      await checkClean();
    });
  });

  it('reports how long each drill took', () => {
    expect(timings.length).toBeGreaterThan(0);
    process.stderr.write(`[day-two] ${timings.join('; ')}\n`);
  });
});
