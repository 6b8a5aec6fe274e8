import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  dataMount,
  diffMajor,
  diffOrphans,
  pgMajorTask,
  pgPasswordTask,
  pgPort,
  renderPostgresCompose,
} from '../../../src/tasks/postgres-app.js';

type Compose = {
  name: string;
  services: {
    db: Record<string, unknown> & { environment: Record<string, string>; volumes: { target: string }[] };
  };
  volumes: { pgdata: { name: string; labels: Record<string, string> } };
  networks: { app: { name: string } };
};

describe('the PostgreSQL compose file', () => {
  const render = (major: number, tailnet?: string) =>
    parse(renderPostgresCompose({ name: 'beanstock', major, port: 15555 }, tailnet)) as Compose;

  it('18+ mounts the volume at /var/lib/postgresql, 17 and older at …/data', () => {
    expect(render(18).services.db.volumes[0]!.target).toBe('/var/lib/postgresql');
    expect(render(17).services.db.volumes[0]!.target).toBe('/var/lib/postgresql/data');
    expect(render(14).services.db.volumes[0]!.target).toBe('/var/lib/postgresql/data');
    expect(dataMount(16)).toBe('/var/lib/postgresql/data');
  });

  it('names image, role, database, network and a per-major volume after the app', () => {
    const c = render(16);
    expect(c.name).toBe('beanstock');
    expect(c.services.db.image).toBe('postgres:16');
    expect(c.services.db.environment).toEqual({
      POSTGRES_USER: 'beanstock',
      POSTGRES_DB: 'beanstock',
      POSTGRES_PASSWORD_FILE: '/run/secrets/pg_password',
    });
    expect(c.networks.app.name).toBe('beanstock');
    expect(c.volumes.pgdata.name).toBe('beanstock-pg16');
    expect(c.volumes.pgdata.labels).toEqual({ 'io.infra.app': 'beanstock', 'io.infra.pg-major': '16' });
    expect(c.services.db.restart).toBe('unless-stopped');
    expect(c.services.db.healthcheck).toMatchObject({
      test: ['CMD-SHELL', expect.stringContaining('pg_isready')],
    });
  });

  it('health asks over TCP, never the socket the init-time server answers on', () => {
    // The official entrypoint's temporary init server listens on the socket only
    // (listen_addresses=''): a socket pg_isready says "healthy" before the database exists.
    for (const major of [14, 16, 17, 18]) {
      const hc = render(major).services.db.healthcheck as { test: string[] };
      expect(hc.test[0]).toBe('CMD-SHELL');
      expect(hc.test[1]).toMatch(/^pg_isready -h 127\.0\.0\.1 /);
    }
  });

  it('publishes only on the tailnet address, and nothing before there is one', () => {
    expect(render(18).services.db.ports).toEqual([]);
    expect(render(18, '100.77.0.11').services.db.ports).toEqual([
      { target: 5432, host_ip: '100.77.0.11', published: '15555', protocol: 'tcp' },
    ]);
    expect(render(18, '0.0.0.0; rm -rf /').services.db.ports).toEqual([]);
  });

  it('is byte-stable (a re-run renders the same file)', () => {
    const a = renderPostgresCompose({ name: 'x', major: 17, port: 1 }, '100.77.0.11');
    expect(renderPostgresCompose({ name: 'x', major: 17, port: 1 }, '100.77.0.11')).toBe(a);
  });
});

describe('ports on the tailnet address', () => {
  it('are stable whatever else is on the host, and distinct', () => {
    const p = pgPort('beanstock', ['beanstock']);
    expect(pgPort('beanstock', ['xhosa', 'beanstock', 'docflow'])).toBe(p);
    const all = ['a', 'b', 'xhosa', 'beanstock', 'docflow', 'ledger'];
    const ports = all.map((a) => pgPort(a, all));
    expect(new Set(ports).size).toBe(all.length);
    for (const x of ports) expect(x).toBeGreaterThanOrEqual(15400);
    for (const x of ports) expect(x).toBeLessThan(16400);
  });
});

describe('the major recorded on the host', () => {
  it.each([
    [18, null, 'pg-major-unrecorded'],
    [18, 18, null],
    [18, 16, 'pg-major-differs'],
    [16, 18, 'pg-major-differs'],
  ] as const)('inventory %s, host %s -> %s', (want, recorded, kind) => {
    const changes = diffMajor('xhosa', want, recorded);
    expect(changes.map((c) => c.kind)).toEqual(kind ? [kind] : []);
  });

  it('refuses a change with the command that does it', () => {
    const [c] = diffMajor('xhosa', 18, 16);
    expect(c!.summary).toMatch(/infra upgrade-pg xhosa --to 18/);
    const t = pgMajorTask({ name: 'xhosa', major: 18 });
    const [step] = t.apply(16, [c!]);
    expect(step!.script).toMatch(/exit 1$/);
    expect(step!.script).toContain('refused:');
    expect(diffMajor('xhosa', 16, 18)[0]!.summary).toMatch(/downgrades/);
  });

  it('records the major when none is there', () => {
    const t = pgMajorTask({ name: 'xhosa', major: 16 });
    expect(t.parse('none\n')).toBeNull();
    expect(t.parse('16\n')).toBe(16);
    expect(t.apply(null, [])[0]!.script).toContain('echo 16 > /srv/infra/apps/xhosa/pg-major');
  });
});

describe('the password', () => {
  const t = pgPasswordTask({ name: 'beanstock', major: 18 });
  it('is generated only when missing, never rotated', () => {
    expect(t.diff(t.parse('missing\n')).map((c) => c.kind)).toEqual(['secret-missing']);
    expect(t.diff(t.parse('600\n'))).toEqual([]);
    expect(t.diff(t.parse('644\n')).map((c) => c.kind)).toEqual(['file-mode']);
    expect(t.apply('missing', [])[0]!.script).toMatch(/if \[ ! -s .*pg_password \]; then/);
  });
});

describe('orphan stacks', () => {
  it.each([
    [['xhosa'], ['xhosa'], []],
    [['xhosa'], ['xhosa', 'olddb', 'olddb'], ['olddb']],
    [[], ['b', 'a'], ['a', 'b']],
  ])('inventory %j, running %j -> %j', (wanted, running, orphans) => {
    const changes = diffOrphans(wanted, running);
    expect(changes.map((c) => c.actual)).toEqual(orphans);
    for (const c of changes) expect(c.kind).toBe('stack-orphan');
  });
});
