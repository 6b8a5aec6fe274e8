import { describe, expect, it } from 'vitest';
import { diffExposure, parsePublished } from '../../../src/tasks/docker.js';
import {
  APP_SERVICE,
  createServiceCmd,
  type DokployState,
  desiredServices,
  diffDokploy,
  PG_SERVICE,
} from '../../../src/tasks/dokploy-services.js';
import { applyDokploy, parseDokploy } from '../../../src/tasks/dokploy-task.js';
import { STACK_IMAGES } from '../../../src/tasks/stack-images.js';
import { parseServiceSpec, type ServiceSpec, specDelta } from '../../../src/tasks/swarm-spec.js';
import { dockerUserBlock } from '../../../src/tasks/ufw-docker.js';

const [pg, app] = desiredServices() as [ServiceSpec, ServiceSpec];
const EMAIL = 'ops@example.com';
const DIR = '/srv/infra/stacks/dokploy';

/** A state in sync with everything infra owns. */
const synced = (over: Partial<DokployState> = {}): DokployState => ({
  docker: true,
  services: { [PG_SERVICE]: pg, [APP_SERVICE]: app },
  replicas: { [PG_SERVICE]: '1/1', [APP_SERVICE]: '1/1' },
  secrets: { dokploy_postgres_password: 'aa', dokploy_auth_secret: 'bb' },
  files: { dokploy_postgres_password: 'aa', dokploy_auth_secret: 'bb' },
  traefik: 'running',
  owner: '200',
  compose: false,
  ...over,
});
const withApp = (s: Partial<ServiceSpec>) =>
  synced({ services: { [PG_SERVICE]: pg, [APP_SERVICE]: { ...app, ...s } } });
const APP_CREATE = /service'? '?create.*--name'? '?dokploy'? /;
const without = (xs: string[], re: RegExp) => xs.filter((x) => !re.test(x));

describe('Dokploy as its installer makes it (install.sh, constants.ts, auth-secret.ts)', () => {
  it('the dokploy service names its secrets by *_FILE, mounted where it reads them; pinned, never latest', () => {
    expect(app.env).toContain('POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password');
    expect(app.env).toContain('BETTER_AUTH_SECRET_FILE=/run/secrets/dokploy_auth_secret');
    expect(app.secrets).toContainEqual({
      source: 'dokploy_postgres_password',
      target: '/run/secrets/postgres_password',
    });
    expect(app.secrets).toContainEqual({
      source: 'dokploy_auth_secret',
      target: '/run/secrets/dokploy_auth_secret',
    });
    expect(pg.env).toContain('POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password');
    expect(app.ports).toEqual([{ published: 3000, target: 3000, protocol: 'tcp', mode: 'host' }]);
    expect(STACK_IMAGES.dokploy).toMatch(/^dokploy\/dokploy:v\d+\.\d+\.\d+$/);
    expect(createServiceCmd(app, true)).toMatch(/--network'? '?dokploy-network/);
    expect(createServiceCmd(app, false)).not.toContain('--publish');
  });

  it.each<[string, DokployState, string[]]>([
    ['in sync', synced(), []],
    ['env var removed', withApp({ env: without(app.env, /^POSTGRES_PASSWORD_FILE/) }), ['service-spec']],
    ['auth secret var removed', withApp({ env: without(app.env, /^BETTER_AUTH/) }), ['service-spec']],
    ['a stray DATABASE_URL', withApp({ env: [...app.env, 'DATABASE_URL=postgres://x'] }), ['service-spec']],
    ['image changed (in-app update)', withApp({ image: 'dokploy/dokploy:latest' }), ['service-spec']],
    ['secret unmounted', withApp({ secrets: app.secrets.slice(1) }), ['service-spec']],
    [
      'port published in ingress mode',
      withApp({ ports: [{ ...app.ports[0]!, mode: 'ingress' }] }),
      ['service-spec'],
    ],
    ['network gone', withApp({ networks: [] }), ['service-spec']],
    ['endpoint mode vip (needs IPVS)', withApp({ endpointMode: 'vip' }), ['service-spec']],
    ['service missing', synced({ services: { [PG_SERVICE]: pg, [APP_SERVICE]: null } }), ['service-missing']],
    ['crash-looping', synced({ replicas: { [PG_SERVICE]: '1/1', [APP_SERVICE]: '0/1' } }), ['service-down']],
    ['secret missing', synced({ secrets: { dokploy_auth_secret: 'bb' } }), ['secret-missing']],
    [
      'secret made outside infra',
      synced({ secrets: { dokploy_postgres_password: '', dokploy_auth_secret: 'bb' } }),
      ['secret-foreign'],
    ],
    ['owner missing', synced({ owner: '401' }), ['owner-missing']],
    ['traefik stopped', synced({ traefik: 'exited' }), ['traefik']],
    ['old compose deployment', synced({ compose: true }), ['compose-legacy']],
  ])('%s', (_name, st, kinds) => {
    expect(diffDokploy(st, EMAIL).map((c) => c.kind)).toEqual(kinds);
  });

  it('names the removed variable, and update args restore exactly it', () => {
    const have = { ...app, env: without(app.env, /^POSTGRES_PASSWORD_FILE/) };
    expect(diffDokploy(withApp(have), EMAIL)[0]!.summary).toBe(
      'update swarm service dokploy: env POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password missing',
    );
    expect(specDelta(have, app).args).toEqual([
      '--env-add',
      'POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password',
    ]);
    expect(specDelta({ ...app, env: [...app.env, 'X=1'] }, app).args).toEqual(['--env-rm', 'X']);
  });

  it("the Traefik container is Dokploy's once it runs: only its existence is checked", () => {
    // No spec of dokploy-traefik is in the state at all: ports, image, env are Dokploy's.
    expect(diffDokploy(synced({ traefik: 'running' }), EMAIL)).toEqual([]);
    expect(diffDokploy(synced({ traefik: 'missing' }), EMAIL)[0]!.summary).toMatch(
      /create container dokploy-traefik/,
    );
  });

  it('no owner email: the plan says which key to set', () => {
    expect(diffDokploy(synced(), undefined)[0]!.summary).toMatch(/set dokploy\.owner_email/);
  });

  it('apply: creates Dokploy unpublished, signs the owner up, then publishes; writes no traefik.yml', () => {
    const fresh = synced({
      services: { [PG_SERVICE]: null, [APP_SERVICE]: null },
      owner: '000',
      traefik: 'missing',
      secrets: {},
    });
    const s = applyDokploy(fresh, DIR, EMAIL, []);
    const create = s.split('\n').find((l) => APP_CREATE.test(l))!;
    expect(create).not.toContain('--publish');
    const signUp = s.indexOf('/api/auth/sign-up/email');
    const publish = s.indexOf('--publish-add published=3000');
    expect(signUp).toBeGreaterThan(s.indexOf(create));
    expect(publish).toBeGreaterThan(signUp);
    expect(s.indexOf('docker run -d --name dokploy-traefik')).toBeGreaterThan(publish);
    expect(s).toContain('-p 127.0.0.1:80:80/tcp');
    expect(s).not.toMatch(/> *\/etc\/dokploy\/traefik\/traefik\.yml|printf[^\n]*traefik\.yml/);
    expect(s).not.toMatch(/swarm leave|swarm init/);
    expect(applyDokploy(fresh, DIR, EMAIL, [80, 443])).toContain('-p 80:80/tcp');
    // An owner that already signs in: the service is created with its port at once.
    const owned = applyDokploy({ ...fresh, owner: '200' }, DIR, EMAIL, []);
    expect(owned.split('\n').find((l) => APP_CREATE.test(l))).toMatch(/--publish'? /);
    // A secret infra did not make is never replaced (secrets are immutable and in use).
    expect(applyDokploy(synced({ secrets: { dokploy_postgres_password: '' } }), DIR, EMAIL, [])).toMatch(
      /rotate by hand.*exit 1$/,
    );
  });

  it('reads the probe: spec JSON, network IDs by name, resolved digests, labels', () => {
    const spec = {
      Name: 'dokploy',
      TaskTemplate: {
        ContainerSpec: {
          Image: `${STACK_IMAGES.dokploy}@sha256:${'a'.repeat(64)}`,
          Env: [...app.env].reverse(),
          Secrets: app.secrets.map((x) => ({
            SecretName: x.source,
            File: { Name: x.target, UID: '0', Mode: 292 },
          })),
          Mounts: app.mounts.map((m) => ({ Type: m.type, Source: m.source, Target: m.target })),
        },
        Networks: [{ Target: 'net123' }],
      },
      EndpointSpec: {
        Mode: 'dnsrr',
        Ports: [{ Protocol: 'tcp', TargetPort: 3000, PublishedPort: 3000, PublishMode: 'host' }],
      },
    };
    expect(parseServiceSpec(JSON.stringify(spec), { net123: 'dokploy-network' })).toEqual({
      ...app,
      secrets: [...app.secrets].sort((a, b) => a.source.localeCompare(b.source)),
      mounts: [...app.mounts].sort((a, b) => `${a.type}:${a.source}`.localeCompare(`${b.type}:${b.source}`)),
    });
    const st = parseDokploy(
      `@@net\nnet123\n@@svc-dokploy-postgres\n\n@@svc-dokploy\n${JSON.stringify(spec)}\n@@replicas\ndokploy 1/1\n@@secrets\ndokploy_auth_secret <no value>\ndokploy_postgres_password ab12\n@@files\ndokploy_postgres_password ab12\n@@traefik\nmissing\n@@compose\n\n@@owner\n401\n`,
    );
    expect(st.services['dokploy-postgres']).toBeNull();
    expect(st.services.dokploy!.networks).toEqual(['dokploy-network']);
    expect(st.secrets).toEqual({ dokploy_auth_secret: '', dokploy_postgres_password: 'ab12' });
    expect([st.owner, st.traefik, st.compose]).toEqual(['401', 'missing', false]);
  });
});

describe('exposure audit: binds infra cannot address are firewalled, anything else is reported', () => {
  it.each([
    ['dokploy.1.k3x9\t0.0.0.0:3000->3000/tcp', []],
    ['dokploy-traefik\t0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp', []],
    ['dokploy-traefik\t0.0.0.0:8080->8080/tcp', ['port-public']],
    ['some-app\t0.0.0.0:3000->3000/tcp', ['port-public']],
    ['dokploy.1.k3x9\t0.0.0.0:5432->5432/tcp', ['port-public']],
  ])('%s', (ps, kinds) => {
    expect(diffExposure(parsePublished(ps), []).map((c) => c.kind)).toEqual(kinds);
  });
});

describe("DOCKER-USER: Dokploy's ports closed to every source but the tailnet, private ranges included", () => {
  it('drops new connections to 3000/80/443 before the private-range returns; public_ports opens one', () => {
    const block = dockerUserBlock([], [80, 443, 3000]);
    const drop = block.indexOf('--ctorigdstport 3000 --ctdir ORIGINAL -j ufw-docker-logging-deny');
    expect(drop).toBeGreaterThan(block.indexOf('-i tailscale0 -j RETURN'));
    expect(drop).toBeLessThan(block.indexOf('-j RETURN -s 10.0.0.0/8'));
    expect(dockerUserBlock([443], [80, 3000])).not.toMatch(
      /ctorigdstport 443 --ctdir ORIGINAL -j ufw-docker-logging-deny/,
    );
  });
});
