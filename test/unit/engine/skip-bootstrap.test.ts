import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostResult } from '../../../src/engine/events.js';
import { runFleet } from '../../../src/engine/run.js';
import type { AnyTask } from '../../../src/engine/task.js';
import { loadInventory } from '../../../src/inventory/load.js';
import { shq } from '../../../src/quote.js';
import { planHost } from '../../../src/roles/index.js';
import { Redactor } from '../../../src/secrets.js';
import { SSHD_DROPIN_CONTENT } from '../../../src/tasks/sshd.js';
import { parseUfw, ufwSafe } from '../../../src/tasks/ufw.js';
import { FakeTransport } from '../../../src/transport/fake.js';

/**
 * The skip rule on the REAL bootstrap plan (src/roles/*: every id and `after` edge as shipped),
 * over the fake transport. sshd, UFW and Tailscale keep their real parse, diff and `safe`, fed
 * canned probe output of a fresh or a converged host; every other task is reduced to a marker
 * file with the same id and edges. This is the "fresh host whose sshd step is refused" proof:
 * a lab reset plus a cold bootstrap to reach that state would cost minutes (docs/bootstrap.md).
 */
const REPO = path.resolve(import.meta.dirname, '../../..');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const AAA = '/etc/ssh/sshd_config.d/00-aaa.conf passwordauthentication yes\n';
const EFFECTIVE =
  'passwordauthentication yes\nkbdinteractiveauthentication no\npermitrootlogin without-password\n';
const REFUSAL =
  'sshd still uses PasswordAuthentication yes: set earlier by /etc/ssh/sshd_config.d/00-aaa.conf - remove it there; /etc/ssh/sshd_config.d/00-infra.conf was put back as it was';

const tailscale = (name: string) =>
  `@@status\n${JSON.stringify({ BackendState: 'Running', Self: { TailscaleIPs: ['100.77.0.10'] } })}\n@@prefs\n${JSON.stringify({ RunSSH: true, Hostname: name })}\n`;

function inventory(learned?: Record<string, { tailnetAddress: string }>) {
  const inv = loadInventory(path.join(REPO, 'inventory.yaml'), { requireSecrets: false, env: {} });
  inv.stateDir = mkdtempSync(path.join(tmpdir(), 'infra-skip-plan-'));
  if (learned) writeFileSync(path.join(inv.stateDir, 'hosts.json'), JSON.stringify(learned));
  return inv;
}

/** The real tasks with canned probes where given, marker files elsewhere (`inSync`: present). */
function fakePlan(
  tasks: AnyTask[],
  canned: Record<string, string>,
  dir: string,
  inSync: (id: string) => boolean,
) {
  const marker = (id: string) => shq(id.replace(/[^A-Za-z0-9]+/g, '_'));
  return tasks.map((t): AnyTask => {
    const out = canned[t.id];
    if (out !== undefined) {
      writeFileSync(path.join(dir, `${marker(t.id)}.probe`), out);
      return {
        ...t,
        probe: `cat ${marker(t.id)}.probe`,
        reads: undefined,
        rollback: undefined,
        // sshd's apply is refused as the real script refuses it; the others never get here.
        apply: () => [{ script: `echo ${shq(REFUSAL)} >&2; exit 1` }],
      };
    }
    if (inSync(t.id)) writeFileSync(path.join(dir, marker(t.id)), '');
    return {
      id: t.id,
      after: t.after,
      probe: `test -e ${marker(t.id)} && echo done; true`,
      parse: (o: string) => o.includes('done'),
      diff: (done: boolean) => (done ? [] : [{ summary: `converge ${t.id}`, kind: 'missing' }]),
      apply: () => [{ script: `touch ${marker(t.id)}` }],
    };
  });
}

async function run(tasks: AnyTask[], dir: string): Promise<HostResult> {
  const transport = new FakeTransport('h', (script, stdin) => {
    if (script.includes('flock')) return { code: 0, stdout: 'LOCKED\n', stderr: '' };
    const r = spawnSync('sh', ['-c', script], { cwd: dir, input: stdin ?? '', encoding: 'utf8' });
    return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
  });
  const [r] = await runFleet({
    hosts: ['h'],
    mode: 'apply',
    plan: () => tasks,
    connect: async () => ({ transport, via: 'fake' }),
    emit: () => {},
    redactor: new Redactor(),
  });
  return r!;
}

/**
 * Everything that opens or publishes a port, or runs behind the firewall: Docker, stacks, the
 * tunnel. Not the boot-order drop-ins (src/tasks/boot-order.ts): they only order units at boot
 * and open nothing, so they converge before sshd as the base files do.
 */
const BEHIND_UFW =
  /^(ufw|ufw:docker|ufw:served|file:\/etc\/docker\/daemon\.json|packages:docker|service:docker\.service|docker:exposure|stack:.*|app:.*|(?!apt-source:|file:\/etc\/systemd\/system\/cloudflared\.service\.d\/).*cloudflared.*)$/;

describe('skip rule on the bootstrap plan', () => {
  it('a fresh host whose sshd step is refused: UFW and everything that publishes ports skipped, not failed', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-skip-fresh-'));
    const plan = fakePlan(
      planHost(inventory(), 'toucan'),
      {
        sshd: `@@dropin\nMISSING\n@@effective\n${EFFECTIVE}@@sources\n${AAA}`,
        ufw: '@@conf\nMISSING\n@@defaults\nMISSING\n@@rules\nMISSING\n@@rules6\nMISSING\n',
        tailscale: tailscale('toucan'),
        'tailscale:ssh': tailscale('toucan'),
      },
      dir,
      () => false,
    );
    const r = await run(plan, dir);
    const by = (s: string) => r.tasks.filter((t) => t.status === s).map((t) => t.task);
    expect(by('failed')).toEqual(['sshd']);
    expect(r.tasks.find((t) => t.task === 'sshd')!.stderr).toContain('00-aaa.conf');
    const skipped = by('skipped');
    for (const id of ['ufw', 'ufw:docker', 'file:/etc/docker/daemon.json', 'packages:docker'])
      expect(skipped).toContain(id);
    for (const id of [
      'service:docker.service',
      'docker:exposure',
      'packages:cloudflared',
      'stack:observability',
    ])
      expect(skipped).toContain(id);
    // Exactly what sits behind UFW is skipped, each naming sshd; what does not (base, apt
    // sources, Tailscale) converged in the same run.
    expect(
      skipped.every((id) => BEHIND_UFW.test(id)),
      skipped.join(' '),
    ).toBe(true);
    expect(r.tasks.filter((t) => BEHIND_UFW.test(t.task)).map((t) => t.status)).not.toContain('changed');
    expect(new Set(r.tasks.filter((t) => t.status === 'skipped').map((t) => t.cause))).toEqual(
      new Set(['sshd']),
    );
    expect(by('changed')).toEqual(
      expect.arrayContaining(['packages:base', 'packages:ufw', 'apt-source:docker']),
    );
    expect(r.status).toBe('failed');
  });

  it('a converged host with a foreign sshd override: only sshd fails, a drifted backup timer converges', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-skip-converged-'));
    const timer = 'service:infra-pg-backup-xhosa.timer';
    const plan = fakePlan(
      planHost(inventory({ toucan: { tailnetAddress: '100.77.0.10' } }), 'hornbill'),
      {
        sshd: `@@dropin\n${b64(SSHD_DROPIN_CONTENT)}\n@@effective\n${EFFECTIVE}@@sources\n${AAA}`,
        tailscale: tailscale('hornbill'),
        'tailscale:ssh': tailscale('hornbill'),
      },
      dir,
      (id) => id !== timer,
    );
    expect(plan.map((t) => t.id)).toContain(timer);
    const r = await run(plan, dir);
    expect(r.tasks.filter((t) => t.status !== 'ok').map((t) => [t.task, t.status])).toEqual([
      ['sshd', 'failed'],
      [timer, 'changed'],
    ]);
    expect(r.tasks.find((t) => t.task === 'sshd')!.changes.map((c) => c.kind)).toEqual(['overridden-by']);
  });
});

/** UFW's four files as the probe prints them: enabled, deny in, the inventory's two rules. */
function ufwProbe(extra4: string[] = []) {
  const rules = (...tuples: string[]) =>
    b64(
      `*filter\n### RULES ###\n\n${tuples.map((t) => `${t}\n-A ufw-user-input -j ACCEPT\n`).join('\n')}\n### END RULES ###\nCOMMIT\n`,
    );
  return [
    '@@conf',
    b64('ENABLED=yes\n'),
    '@@defaults',
    b64('DEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="ACCEPT"\n'),
    '@@rules',
    rules(
      '### tuple ### allow any any 0.0.0.0/0 any 0.0.0.0/0 in_tailscale0',
      '### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in',
      ...extra4,
    ),
    '@@rules6',
    rules(
      '### tuple ### allow any any ::/0 any ::/0 in_tailscale0',
      '### tuple ### allow tcp 443 ::/0 any ::/0 in',
    ),
    '',
  ].join('\n');
}

describe('skip rule on the bootstrap plan: a converged host whose sshd merge is invalid (drill (b))', () => {
  it.each([
    ['UFW in sync', []],
    ['UFW with a rule too many', ['### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in']],
  ])(
    '%s: UFW is skipped (sshd is not safe), but UFW is, so Docker and the stacks still run',
    async (_n, extra) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'infra-skip-drill-b-'));
      const plan = fakePlan(
        planHost(inventory(), 'toucan'),
        {
          sshd: '@@dropin\nMISSING\n@@effective\ninvalid /etc/ssh/sshd_config.d/50-stray.conf line 1: unsupported option "maybe".\n@@sources\n',
          ufw: ufwProbe(extra),
          tailscale: tailscale('toucan'),
          'tailscale:ssh': tailscale('toucan'),
        },
        dir,
        (id) => id !== 'service:docker.service',
      );
      const r = await run(plan, dir);
      expect(r.tasks.filter((t) => t.status !== 'ok').map((t) => [t.task, t.status, t.cause ?? ''])).toEqual([
        ['sshd', 'failed', ''],
        ['ufw', 'skipped', 'sshd'],
        ['service:docker.service', 'changed', ''],
      ]);
    },
  );
});

describe("UFW's safety precondition", () => {
  const state = (enabled: string, input: string) =>
    parseUfw(
      `@@conf\n${b64(`ENABLED=${enabled}\n`)}\n@@defaults\n${b64(`DEFAULT_INPUT_POLICY="${input}"\n`)}\n@@rules\nMISSING\n@@rules6\nMISSING\n`,
    );
  it.each([
    ['on, incoming dropped', 'yes', 'DROP', true],
    ['on, incoming rejected', 'yes', 'REJECT', true],
    ['on, incoming accepted', 'yes', 'ACCEPT', false],
    ['off', 'no', 'DROP', false],
  ])('%s -> %s', (_n, enabled, input, safe) => {
    expect(ufwSafe(state(enabled, input))).toBe(safe);
  });
});
