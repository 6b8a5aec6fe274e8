import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../../src/inventory/load.js';
import { planHost } from '../../../src/roles/index.js';
import {
  diffSecrets,
  parseSecrets,
  type SecretFile,
  secretsScript,
} from '../../../src/tasks/host-secrets.js';
import {
  answeringBadly,
  diffHealth,
  type HealthCheck,
  isHealthy,
  parseHealth,
} from '../../../src/tasks/stack-health.js';

const REPO = path.resolve(import.meta.dirname, '../../..');

describe('secrets generated on the host', () => {
  const files: SecretFile[] = [
    { name: 'pg_password', readBy: { image: 'postgres:18', user: 'postgres' } },
    {
      name: 'database_url',
      readBy: { image: 'glitchtip/glitchtip:6' },
      from: { format: 'postgres://g:%s@postgres/g', sources: ['pg_password'] },
    },
  ];
  const dir = '/srv/infra/stacks/glitchtip';

  it.each([
    ['pg_password 600 ok\ndatabase_url 600 ok\n', []],
    ['pg_password missing\ndatabase_url missing\n', ['secret-missing', 'secret-missing']],
    ['pg_password 644 ok\ndatabase_url 600 ok\n', ['file-mode']],
    ['pg_password 600 ok\ndatabase_url 600 stale\n', ['secret-stale']],
    ['', ['secret-missing', 'secret-missing']],
  ])('probe %j -> %j', (out, kinds) => {
    expect(diffSecrets('glitchtip', dir, files, parseSecrets(out)).map((c) => c.kind)).toEqual(kinds);
  });

  it('generates only what is missing (never rotates), derives, chowns to the reading uid, 0600', () => {
    const s = secretsScript(dir, files);
    expect(s).toContain('if [ ! -s /srv/infra/stacks/glitchtip/pg_password ]; then head -c 96 /dev/urandom');
    expect(s).toContain('printf postgres://g:%s@postgres/g "$(cat /srv/infra/stacks/glitchtip/pg_password)"');
    expect(s).toContain('umask 077');
    expect(s).toContain('chmod 600 /srv/infra/stacks/glitchtip/pg_password');
    expect(s).toContain('id -u postgres');
    expect(s).not.toMatch(/(^|[;&|]\s*)rm /m);
  });

  it('refuses a file name that could escape the directory', () => {
    expect(() => secretsScript(dir, [{ name: '../x', readBy: { image: 'a' } }])).toThrow(/bad secret/);
  });
});

describe('stack health', () => {
  const checks: HealthCheck[] = [
    { service: 'web', port: 8000, path: '/_health/' },
    { service: 'traefik', port: 80, path: '/', expect: 'any' },
  ];
  it.each([
    ['web 200\ntraefik 404\n', []],
    ['web 302\ntraefik 200\n', []],
    ['web 503\ntraefik 404\n', ['web: HTTP 503']],
    ['web 000\ntraefik 000\n', ['web: no answer', 'traefik: no answer']],
    ['web none\n', ['web: no running container', 'traefik: no running container']],
    ['', ['web: no running container', 'traefik: no running container']],
  ])('%j -> %j', (out, problems) => {
    const got = diffHealth('glitchtip', checks, parseHealth(out)).map((c) =>
      c.summary.replace(/^stack glitchtip service (\w+) is not healthy: GET \S+ → (.*)$/, '$1: $2'),
    );
    expect(got).toEqual(problems);
  });
  it.each([
    ['web 503\ntraefik 000\n', ['web', 'traefik']],
    ['web 200\ntraefik none\n', []], // no container: the stack task starts it
    ['', []],
  ])('apply restarts the services answering badly: %j -> %j', (out, restarted) => {
    expect(answeringBadly(checks, parseHealth(out))).toEqual(restarted);
  });
  it('a 404 is healthy only where any answer is', () => {
    expect(isHealthy(checks[0]!, '404')).toBe(false);
    expect(isHealthy(checks[1]!, '404')).toBe(true);
  });
});

describe('the role plan', () => {
  const inventory = (learned?: Record<string, { tailnetAddress: string }>) => {
    const inv = loadInventory(path.join(REPO, 'inventory.yaml'), { requireSecrets: false, env: {} });
    inv.stateDir = mkdtempSync(path.join(tmpdir(), 'infra-stacks-'));
    if (learned) {
      mkdirSync(inv.stateDir, { recursive: true });
      writeFileSync(path.join(inv.stateDir, 'hosts.json'), JSON.stringify(learned));
    }
    return inv;
  };

  it('toucan gets the control stacks and Alloy, each after Docker and Tailscale', () => {
    const tasks = planHost(inventory(), 'toucan');
    const ids = tasks.map((t) => t.id);
    for (const id of [
      'stack:observability:secrets',
      'stack:observability',
      'stack:observability:health',
      'stack:glitchtip:secrets',
      'stack:glitchtip',
      'stack:dokploy:swarm',
      'stack:dokploy',
      'stack:alloy',
      'stack:alloy:health',
    ])
      expect(ids).toContain(id);
    const obs = tasks.find((t) => t.id === 'stack:observability')!;
    expect(obs.after).toEqual(expect.arrayContaining(['service:docker.service', 'tailscale']));
    expect(tasks.find((t) => t.id === 'stack:dokploy')!.after).toContain('stack:dokploy:swarm');
  });

  it("hornbill gets only Alloy; before toucan's tailnet address is known, the plan says what to run", () => {
    const before = planHost(inventory(), 'hornbill').filter((t) => t.id.startsWith('stack:'));
    expect(before.map((t) => t.id)).toEqual(['stack:alloy']);
    expect(before[0]!.diff(null)[0]!.summary).toMatch(
      /toucan's tailnet address is not known yet — run: infra bootstrap toucan first/,
    );
    const after = planHost(inventory({ toucan: { tailnetAddress: '100.77.0.10' } }), 'hornbill');
    const alloy = after.find((t) => t.id === 'stack:alloy')!;
    const changes = alloy.diff(alloy.parse(''));
    expect(changes[0]!.diff).toContain('url = "http://100.77.0.10:3100/loki/api/v1/push"');
  });
});
