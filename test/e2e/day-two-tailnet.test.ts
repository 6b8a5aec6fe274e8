import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labHost, run, sleep, sshWorks } from './bootstrap-helpers.js';
import { answers, ensureLab, onHost, resetInventory } from './harness.js';

/**
 * Day two (docs/day-two.md): the tailnet down between the hosts. Real: both hosts, their Docker
 * engines, UFW, sshd, infra's SSH path. LAB STAND-INS: Alloy and Loki (lab/images/stacks/
 * standin_alloy.py models loki.write v1.10.2's batches, retries with backoff and drops; the Loki
 * stand-in stores pushes and answers query_range), and the tailnet itself (a Docker network).
 *
 * The cut: the host side of hornbill's tailnet link (the veth peer of its tailscale0 on the lab's
 * tailnet bridge) is set down on this machine. Nothing on either host changes: tailscale0 keeps
 * its address, UFW and the routes are as they were, packets to and from hornbill on the tailnet
 * are lost in the middle, as when a tailnet path fails. It cuts hornbill from every tailnet peer
 * (toucan and the operator's machine) and leaves the public network alone, where hornbill's SSH
 * is closed by design. `docker network disconnect` would instead delete the interface (a host
 * whose tailscaled vanished), and a firewall rule on a host would be a host change `check` sees.
 */
const LOGGER = 'infra-drill-logger';
const LINES = 40;

/** The veth on this machine whose peer is hornbill's tailscale0. */
async function tailnetVeth(host: string): Promise<string> {
  const peer = (await onHost(host, 'cat /sys/class/net/tailscale0/iflink')).stdout.trim();
  expect(peer, `${host}: no tailscale0`).toMatch(/^\d+$/);
  const links = (await execa('ip', ['-o', 'link', 'show'])).stdout.split('\n');
  const line = links.find((l) => l.startsWith(`${peer}: `));
  const name = line?.split(': ')[1]?.split('@')[0];
  if (!name) throw new Error(`no interface ${peer} on this machine for ${host}'s tailscale0`);
  return name;
}

const link = (veth: string, state: 'up' | 'down') => execa('ip', ['link', 'set', 'dev', veth, state]);

/** Alloy's loki_write_* counters (its /metrics, inside the container). */
async function alloyMetrics(): Promise<Record<string, number>> {
  const r = await onHost('hornbill', 'docker exec alloy-alloy-1 curl -s -m 3 http://127.0.0.1:12345/metrics');
  expect(r.code, r.all).toBe(0);
  return Object.fromEntries(
    [...r.stdout.matchAll(/^(loki_write_\w+)\{[^}]*\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]),
  );
}

/** How many lines holding `needle` Loki on toucan received from hornbill's logger (query API). */
async function lokiCount(needle: string): Promise<number> {
  const query = `{container="${LOGGER}",host="hornbill"} |= "${needle}"`;
  const r = await onHost(
    'toucan',
    `curl -s -m 5 -G http://${labHost('toucan').tailnetAddress}:3100/loki/api/v1/query_range --data-urlencode 'query=${query}' --data-urlencode limit=5000`,
  );
  expect(r.code, r.all).toBe(0);
  const doc = JSON.parse(r.stdout) as { data: { result: { values: [string, string][] }[] } };
  return doc.data.result.reduce((n, s) => n + s.values.length, 0);
}

async function waitFor(what: string, f: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await f()) return;
    await sleep(1000);
  }
  throw new Error(`${what}: not after ${timeoutMs / 1000} s`);
}

const alloyState = async () =>
  (
    await onHost(
      'hornbill',
      "docker inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.StartedAt}}' alloy-alloy-1",
    )
  ).stdout;

describe('day two: the tailnet down between the hosts', () => {
  let veth = '';

  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    for (const h of ['toucan', 'hornbill']) {
      const b = await run('bootstrap', h);
      expect(b.code, b.all).toBe(0);
    }
    veth = await tailnetVeth('hornbill');
  });

  afterAll(async () => {
    if (veth) await link(veth, 'up');
    await onHost('hornbill', `docker rm -f ${LOGGER} >/dev/null 2>&1`);
  });

  it('Alloy keeps running and delivers every line logged meanwhile; check reports hornbill unreachable and still checks toucan', async () => {
    const t0 = Date.now();
    const clean = await run('check');
    expect(clean.code, clean.all).toBe(0);
    const toucanRecap = /^toucan\s+in sync\s+ok \d+\s+drift 0\s+failed 0/m.exec(clean.all)?.[0];
    expect(toucanRecap, clean.all).toBeTruthy();

    // A container of hornbill's that Alloy tails: one line before the cut proves the path works.
    const mark = `tailnet-drill-${Date.now()}`;
    const say = (text: string, n = 1) =>
      onHost(
        'hornbill',
        `docker exec ${LOGGER} sh -c 'i=1; while [ $i -le ${n} ]; do echo "${mark} ${text} $i" > /proc/1/fd/1; i=$((i+1)); done'`,
      );
    await onHost('hornbill', `docker rm -f ${LOGGER} >/dev/null 2>&1`);
    const started = await onHost(
      'hornbill',
      `docker run -d --name ${LOGGER} --entrypoint sh grafana/alloy:v1.10.2 -c 'sleep 3600'`,
    );
    expect(started.code, started.all).toBe(0);
    expect((await say('before')).code).toBe(0);
    await waitFor(
      'the line before the cut in Loki',
      async () => (await lokiCount(`${mark} before`)) === 1,
      60_000,
    );
    const alloyBefore = await alloyState();
    const metricsBefore = await alloyMetrics();

    await link(veth, 'down');
    try {
      // Cut for real: hornbill reaches no tailnet peer and no peer reaches it; the host is unchanged.
      const toToucan = await onHost(
        'hornbill',
        `curl -s -m 3 http://${labHost('toucan').tailnetAddress}:3100/ready`,
      );
      expect(toToucan.code, 'hornbill -> toucan over the tailnet').not.toBe(0);
      expect(await answers(labHost('hornbill').tailnetAddress, 22, 3000)).toBe(false);
      expect((await onHost('hornbill', 'ip -4 -o addr show dev tailscale0')).stdout).toContain(
        labHost('hornbill').tailnetAddress,
      );

      expect((await say('during', LINES)).code).toBe(0);
      // Alloy tries, fails and retries with backoff (loki_write_batch_retries_total grows).
      await waitFor(
        'Alloy retrying the batch',
        async () =>
          ((await alloyMetrics()).loki_write_batch_retries_total ?? 0) >
          (metricsBefore.loki_write_batch_retries_total ?? 0),
        60_000,
      );

      const cut = await run('check');
      expect(cut.code, cut.all).toBe(1);
      const unreachable = cut.all.split('\n').filter((l) => /^hornbill\s+unreachable: /.test(l));
      expect(unreachable, cut.all).toHaveLength(1);
      expect(unreachable[0]).toMatch(/no SSH path to hornbill answers \(tailnet .*; public .*\)/);
      expect(cut.all).toContain(toucanRecap!.replace(/\s+$/, ''));
      expect(cut.all).toMatch(/^hornbill\s+unreachable\s+[\d.]+s$/m);
      process.stderr.write(`[day-two] check during the cut (exit ${cut.code}):\n${cut.all}\n`);

      // Alloy kept running (same start, no restart), says ready, and holds the lines back.
      expect(await alloyState()).toBe(alloyBefore);
      const ready = await onHost(
        'hornbill',
        'docker exec alloy-alloy-1 curl -s -m 3 http://127.0.0.1:12345/-/ready',
      );
      expect(ready.stdout).toBe('Alloy is ready.');
      expect(await lokiCount(`${mark} during`)).toBe(0);
    } finally {
      await link(veth, 'up');
    }
    const down = Date.now();

    // Back: the batch being retried goes through at its next attempt, the rest after it.
    await waitFor('every line in Loki', async () => (await lokiCount(`${mark} during`)) >= LINES, 240_000);
    const delivered = Date.now();
    expect(await lokiCount(`${mark} during`)).toBe(LINES); // none lost, none twice
    const after = await alloyMetrics();
    expect(after.loki_write_dropped_entries_total ?? 0).toBe(
      metricsBefore.loki_write_dropped_entries_total ?? 0,
    );
    expect(await sshWorks('hornbill', 'tailnet')).toBe(true);
    await onHost('hornbill', `docker rm -f ${LOGGER} >/dev/null 2>&1`);
    const back = await run('check');
    expect(back.code, back.all).toBe(0);
    process.stderr.write(
      `[day-two] tailnet down: ${((down - t0) / 1000).toFixed(1)} s to cut and check, lines delivered ${((delivered - down) / 1000).toFixed(1)} s after the link came back, ${((Date.now() - t0) / 1000).toFixed(1)} s in all\n`,
    );
  });
});
