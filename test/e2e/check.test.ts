import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { containerOf, ensureLab, infra, onHost, resetInventory } from './harness.js';

/**
 * `infra check` on the lab: read-only, one probe round trip per host, every drift class found
 * with the right task and kind, `apply` clears it, an unreachable host does not hide the others.
 * Real: Debian hosts, systemd, apt, UFW, sshd, Docker, PostgreSQL. Stand-ins: tailscale and
 * cloudflared packages (docs/lab.md), the control stacks' images except PostgreSQL and Valkey.
 */

// The documented `--json` shape (README, "--json"): the test fails if the output strays from it.
const finding = z
  .object({
    task: z.string(),
    kind: z.string(),
    message: z.string(),
    expected: z.unknown(),
    actual: z.unknown(),
    cause: z.string().optional(),
    waitingFor: z.string().optional(),
  })
  .strict();
const count = z.number().int().nonnegative();
const reportSchema = z
  .object({
    version: z.literal(1),
    mode: z.enum(['apply', 'plan', 'check']),
    hosts: z.array(
      z
        .object({
          name: z.string(),
          status: z.enum(['in-sync', 'drift', 'changed', 'pending', 'unreachable', 'error']),
          durationMs: z.number().int().nonnegative(),
          error: z.string().optional(),
          counts: z
            .object({
              ok: count,
              changed: count,
              drift: count,
              failed: count,
              skipped: count,
              waiting: count,
            })
            .strict(),
          findings: z.array(finding),
          changes: z.array(finding),
          // Said about the host but not drift (GlitchTip without outgoing mail): README's --json.
          warnings: z.array(z.string()).optional(),
          stats: z.object({ connections: z.number().int(), execs: z.number().int() }).strict(),
        })
        .strict(),
    ),
    summary: z
      .object({
        hosts: z.number(),
        inSync: z.number(),
        drift: z.number(),
        changed: z.number(),
        pending: z.number(),
        unreachable: z.number(),
        error: z.number(),
      })
      .strict(),
  })
  .strict();

async function checkJson(...hosts: string[]) {
  const r = await infra(['--lab', 'check', '--json', ...hosts]);
  return { code: r.code, doc: reportSchema.parse(JSON.parse(r.stdout)), raw: r };
}

/** What must not change when only `check` runs: packages, /etc, the firewall, containers. */
const STATE_HASH = [
  "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'",
  'find /etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum 2>/dev/null',
  'ufw status verbose',
  "docker ps -a --format '{{.Names}} {{.Image}} {{.State}}'",
  'ls -la --time-style=full-iso /var/lib/apt/lists',
].join('; ');

describe('infra check', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    const toucan = await infra(['--lab', 'bootstrap', 'toucan']);
    expect(toucan.code, toucan.all).toBe(0);
    const hornbill = await infra(['--lab', 'bootstrap', 'hornbill']);
    expect(hornbill.code, hornbill.all).toBe(0);
  });

  it('after bootstrap and apps: exit 0, says so, one probe round trip per host, and changes nothing', async () => {
    const before = await Promise.all(
      ['toucan', 'hornbill'].map((h) => onHost(h, `(${STATE_HASH}) | sha256sum`)),
    );
    const human = await infra(['--lab', 'check']);
    expect(human.code, human.all).toBe(0);
    expect(human.stdout).toMatch(/toucan +in sync/);
    expect(human.stdout).toMatch(/hornbill +in sync/);
    const { code, doc } = await checkJson();
    expect(code).toBe(0);
    expect(doc.summary).toEqual({
      hosts: 2,
      inSync: 2,
      drift: 0,
      changed: 0,
      pending: 0,
      unreachable: 0,
      error: 0,
    });
    for (const h of doc.hosts) expect(h.stats, h.name).toEqual({ connections: 1, execs: 1 });
    const after = await Promise.all(
      ['toucan', 'hornbill'].map((h) => onHost(h, `(${STATE_HASH}) | sha256sum`)),
    );
    expect(after.map((a) => a.stdout)).toEqual(before.map((b) => b.stdout));
  });

  // Each drift class, injected by hand: found with the right task and kind, exit 2; apply clears it.
  // They run in rounds, as an operator meets them: several drifts on both hosts at once, one check
  // naming every one, one `infra apply` clearing them all. A round never holds two drifts where one
  // would produce the other's finding (UFW disabled also opens public SSH; Docker down stops every
  // stack), so each finding is proof of its own drift. `actual` pins a finding shared by two drifts.
  type Drift = {
    name: string;
    round: 1 | 2 | 3;
    host: string;
    inject: string;
    task: string | RegExp;
    kind: string;
    actual?: RegExp;
  };
  const drifts: Drift[] = [
    {
      name: 'package missing',
      round: 1,
      host: 'hornbill',
      inject: 'apt-get remove -y -q jq',
      task: 'packages:base',
      kind: 'package-missing',
    },
    {
      name: 'service stopped',
      round: 1,
      host: 'hornbill',
      inject: 'systemctl stop unattended-upgrades',
      task: 'service:unattended-upgrades.service',
      kind: 'service-stopped',
    },
    {
      name: 'service disabled',
      round: 2,
      host: 'hornbill',
      inject: 'systemctl disable -q unattended-upgrades',
      task: 'service:unattended-upgrades.service',
      kind: 'service-disabled',
    },
    {
      name: 'UFW disabled',
      round: 1,
      host: 'hornbill',
      inject: 'ufw disable',
      task: 'ufw',
      kind: 'disabled',
    },
    {
      name: 'UFW default changed',
      round: 2,
      host: 'hornbill',
      inject: 'ufw default allow incoming',
      task: 'ufw',
      kind: 'default-changed',
    },
    {
      name: 'UFW rule added',
      round: 3,
      actual: /8080/,
      host: 'hornbill',
      inject: 'ufw allow 8080/tcp',
      task: 'ufw',
      kind: 'rule-extra',
    },
    {
      name: 'UFW rule missing',
      round: 1,
      host: 'toucan',
      inject: 'ufw delete allow 443/tcp',
      task: 'ufw',
      kind: 'rule-missing',
    },
    {
      name: 'public SSH answering',
      round: 3,
      host: 'hornbill',
      inject: 'ufw allow 22/tcp',
      task: 'public-ssh',
      kind: 'public-ssh-open',
    },
    {
      name: 'effective sshd config',
      round: 1,
      host: 'hornbill',
      inject:
        "sed -i 's/^PasswordAuthentication no/PasswordAuthentication yes/' /etc/ssh/sshd_config.d/00-infra.conf && systemctl reload ssh",
      task: 'sshd',
      kind: 'effective',
    },
    {
      name: 'Tailscale SSH off',
      round: 1,
      host: 'hornbill',
      inject: 'tailscale set --ssh=false',
      task: 'tailscale:ssh',
      kind: 'ssh-pref',
    },
    {
      name: 'Tailscale hostname changed',
      round: 2,
      host: 'hornbill',
      inject: 'tailscale set --hostname=impostor',
      task: 'tailscale',
      kind: 'hostname-pref',
    },
    {
      name: 'cloudflared not running',
      round: 1,
      host: 'toucan',
      inject: 'systemctl stop cloudflared',
      task: 'service:cloudflared.service',
      kind: 'service-stopped',
    },
    {
      name: 'cloudflared ingress differing',
      round: 2,
      host: 'toucan',
      inject: "sed -i 's/glitchtip.sgl.as/evil.example.com/' /etc/cloudflared/config.yml",
      task: 'file:/etc/cloudflared/config.yml',
      kind: 'file-content',
    },
    {
      name: 'Docker down',
      round: 3,
      host: 'hornbill',
      inject: 'systemctl stop docker.socket docker.service',
      task: 'service:docker.service',
      kind: 'service-stopped',
    },
    {
      name: 'app without its Postgres',
      round: 1,
      host: 'hornbill',
      inject: 'docker rm -f $(docker ps -aq --filter label=com.docker.compose.project=xhosa)',
      task: 'app:xhosa:postgres',
      kind: 'stack-missing',
    },
    {
      name: 'stack stopped',
      round: 1,
      host: 'hornbill',
      inject: 'docker stop $(docker ps -q --filter label=com.docker.compose.project=docflow)',
      task: 'app:docflow:postgres',
      kind: 'stack-stopped',
    },
    {
      // Someone ran the stack from an edited copy of its file and left ours untouched.
      name: 'stack with a different config hash',
      round: 2,
      host: 'hornbill',
      inject: [
        'cd /srv/infra/apps/docflow',
        // A label on the service only (the volume's labels must stay as they are).
        `sed '0,/^\\( *\\)io.infra.app: .*$/s//&\\n\\1io.infra.e2e-drift: "yes"/' compose.yaml > drift.yaml`,
        'grep -q e2e-drift drift.yaml && docker compose -p docflow -f drift.yaml up -d --wait',
        'rc=$?; rm -f drift.yaml; exit $rc',
      ].join('\n'),
      task: 'app:docflow:postgres',
      kind: 'stack-config-hash',
    },
    {
      name: 'stack running another image',
      round: 2,
      host: 'hornbill',
      inject: [
        'cd /srv/infra/stacks/alloy',
        'docker tag grafana/alloy:v1.10.2 grafana/alloy:e2e-drift',
        "sed 's#grafana/alloy:v1.10.2#grafana/alloy:e2e-drift#' compose.yaml > drift.yaml",
        'docker compose -p alloy -f drift.yaml up -d; rc=$?',
        'rm -f drift.yaml; docker rmi grafana/alloy:e2e-drift >/dev/null; exit $rc',
      ].join('\n'),
      task: 'stack:alloy',
      kind: 'stack-image',
    },
    {
      // A hung process: the container runs, its service does not answer. Apply restarts it.
      name: 'stack unhealthy',
      round: 1,
      host: 'toucan',
      inject: 'docker kill -s STOP observability-grafana-1',
      task: 'stack:observability:health',
      kind: 'stack-unhealthy',
    },
  ];

  const rounds = ([1, 2, 3] as const).map((n) => ({
    n,
    names: drifts
      .filter((d) => d.round === n)
      .map((d) => d.name)
      .join(', '),
    ds: drifts.filter((d) => d.round === n),
  }));

  it.each(rounds)(
    'round $n ($names): check exit 2 naming each; one apply clears them all',
    async ({ ds }) => {
      for (const d of ds) {
        const injected = await onHost(d.host, d.inject);
        expect(injected.code, `${d.name}: ${injected.all}`).toBe(0);
      }
      const { code, doc, raw } = await checkJson();
      expect(code, raw.all).toBe(2);
      for (const d of ds) {
        const h = doc.hosts.find((x) => x.name === d.host)!;
        expect(h.status, d.name).toBe('drift');
        const hit = h.findings.find(
          (f) =>
            (typeof d.task === 'string' ? f.task === d.task : d.task.test(f.task)) &&
            f.kind === d.kind &&
            (!d.actual || d.actual.test(String(f.actual))),
        );
        expect(hit, `${d.name}: ${JSON.stringify(h.findings, null, 2)}`).toBeDefined();
      }
      const human = await infra(['--lab', 'check']);
      for (const host of new Set(ds.map((d) => d.host)))
        expect(human.stdout).toContain(`fix: infra apply ${host}`);
      const fixed = await infra(['--lab', 'apply']);
      expect(fixed.code, fixed.all).toBe(0);
      const again = await checkJson();
      expect(again.code, JSON.stringify(again.doc.hosts.map((h) => h.findings))).toBe(0);
    },
  );

  it('a stopped host is reported unreachable, the other is still checked, exit 1', async () => {
    const stop = await onHost('hornbill', 'true'); // the container answers before we stop it
    expect(stop.code).toBe(0);
    const { execa } = await import('execa');
    await execa('docker', ['stop', '-t', '2', containerOf('hornbill')]);
    try {
      const { code, doc } = await checkJson();
      expect(code).toBe(1);
      expect(doc.hosts.find((h) => h.name === 'hornbill')!.status).toBe('unreachable');
      expect(doc.hosts.find((h) => h.name === 'toucan')!.status).toBe('in-sync');
      expect(doc.summary).toMatchObject({ hosts: 2, inSync: 1, unreachable: 1 });
    } finally {
      const up = await infra(['lab', 'up']);
      expect(up.code, up.all).toBe(0);
      // A restarted host may start containers before its tailnet address exists; converge it so
      // the suites after this one find it as they expect.
      const again = await infra(['--lab', 'apply', 'hornbill']);
      expect(again.code, again.all).toBe(0);
    }
  });
});
