import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { lokiPushUrl, renderAlloy, renderAlloyConfig } from '../../../src/tasks/alloy.js';
import { diffStack, oneShotsOf, type StackState } from '../../../src/tasks/compose-stack.js';
import { diffSwarm, parseSwarm, swarmScript } from '../../../src/tasks/dokploy.js';
import { glitchtipDomain, glitchtipStack, renderGlitchtip } from '../../../src/tasks/glitchtip.js';
import { renderLokiConfig, renderObservability } from '../../../src/tasks/observability.js';
import { STACK_IMAGES } from '../../../src/tasks/stack-images.js';

type Svc = {
  image: string;
  ports?: { host_ip: string; published: string; target: number }[];
  environment?: Record<string, string>;
  labels?: Record<string, string>;
  hostname?: string;
};
const services = (yaml: string) => (parse(yaml) as { services: Record<string, Svc> }).services;
const TAILNET = '100.77.0.10';

describe('observability stack (Loki + Grafana)', () => {
  it('publishes Loki and Grafana on the tailnet address only, and nothing before there is one', () => {
    const s = services(renderObservability(31, TAILNET));
    expect(s.loki!.ports).toEqual([{ target: 3100, host_ip: TAILNET, published: '3100', protocol: 'tcp' }]);
    expect(s.grafana!.ports).toEqual([
      { target: 3000, host_ip: TAILNET, published: '3001', protocol: 'tcp' },
    ]);
    for (const bad of [undefined, '', 'tailnet=', '1.2.3.4; rm -rf /'])
      for (const svc of Object.values(services(renderObservability(31, bad)))) expect(svc.ports).toEqual([]);
  });

  it.each([
    [1, '24h'],
    [31, '744h'],
    [365, '8760h'],
  ])('retention %i days -> retention_period %s, with the compactor deleting', (days, period) => {
    const cfg = parse(renderLokiConfig(days)) as {
      limits_config: { retention_period: string };
      compactor: { retention_enabled: boolean; delete_request_store: string };
    };
    expect(cfg.limits_config.retention_period).toBe(period);
    expect(cfg.compactor).toMatchObject({ retention_enabled: true, delete_request_store: 'filesystem' });
  });

  it('a changed Loki config changes the service (label), so compose recreates the container', () => {
    const a = services(renderObservability(31, TAILNET)).loki!.labels!;
    const b = services(renderObservability(7, TAILNET)).loki!.labels!;
    expect(a['io.infra.config.loki']).toMatch(/^[0-9a-f]{16}$/);
    expect(a['io.infra.config.loki']).not.toBe(b['io.infra.config.loki']);
  });

  it('Grafana takes its admin password from a generated file, never admin/admin, and provisions Loki', () => {
    const text = renderObservability(31, TAILNET);
    const g = services(text).grafana!;
    expect(g.environment).toMatchObject({
      GF_SECURITY_ADMIN_PASSWORD__FILE: '/run/secrets/grafana_admin_password',
    });
    expect(g.environment).not.toHaveProperty('GF_SECURITY_ADMIN_PASSWORD');
    const doc = parse(text) as { configs: Record<string, { content: string }> };
    expect(parse(doc.configs['grafana-datasources']!.content)).toMatchObject({
      datasources: [{ name: 'Loki', type: 'loki', url: 'http://loki:3100' }],
    });
  });
});

describe('alloy stack', () => {
  it('ships to the given Loki address over the tailnet, labelled with the host name', () => {
    const text = renderAlloy('hornbill', { kind: 'address', address: TAILNET })!;
    expect(text).toContain(`url = "http://${TAILNET}:3100/loki/api/v1/push"`);
    expect(services(text).alloy!.hostname).toBe('hornbill');
    expect(services(text).alloy!.image).toBe(STACK_IMAGES.alloy);
    expect(services(text).alloy!.ports).toBeUndefined();
  });
  it.each([undefined, '', 'toucan', '100.77.0.10:3100', '"; x'])('no Loki address %j -> no stack', (a) => {
    expect(renderAlloy('hornbill', { kind: 'address', address: a as string })).toBeNull();
  });
  it('on the control host, pushes to Loki on the observability network (no tailnet needed)', () => {
    const text = renderAlloy('toucan', { kind: 'local' })!;
    expect(text).toContain('url = "http://loki:3100/loki/api/v1/push"');
    expect(parse(text).networks.observability).toEqual({ name: 'observability_default', external: true });
  });
  it('keeps container and compose-project labels (UPSTREAM §7)', () => {
    const cfg = renderAlloyConfig(lokiPushUrl(TAILNET));
    expect(cfg).toContain('target_label  = "container"');
    expect(cfg).toContain('__meta_docker_container_label_com_docker_compose_project');
    expect(cfg).toContain('target_label  = "compose_project"');
  });
});

describe('glitchtip stack', () => {
  it.each([
    [[{ hostname: 'glitchtip.sgl.as', service: 'http://localhost:8000' }], 'https://glitchtip.sgl.as'],
    [[{ hostname: 'gt.example.com', service: 'http://127.0.0.1:8000/' }], 'https://gt.example.com'],
    [[{ hostname: 'dokploy-toucan.sgl.as', service: 'http://localhost:3000' }], 'http://localhost:8000'],
    [[], 'http://localhost:8000'],
  ])('GLITCHTIP_DOMAIN from the route that reaches it: %j -> %s', (routes, domain) => {
    expect(glitchtipDomain(routes)).toBe(domain);
  });

  it('web on loopback only; secrets by *_FILE; migrate is a one-shot the others wait for', () => {
    const text = renderGlitchtip([{ hostname: 'glitchtip.sgl.as', service: 'http://localhost:8000' }]);
    const s = services(text);
    expect(s.web!.ports).toEqual([
      { target: 8000, host_ip: '127.0.0.1', published: '8000', protocol: 'tcp' },
    ]);
    for (const svc of ['migrate', 'web', 'worker'])
      expect(s[svc]!.environment).toMatchObject({
        DATABASE_URL_FILE: '/run/secrets/database_url',
        SECRET_KEY_FILE: '/run/secrets/secret_key',
        GLITCHTIP_DOMAIN: 'https://glitchtip.sgl.as',
        VALKEY_URL: 'redis://valkey:6379',
      });
    expect(text).not.toMatch(/SECRET_KEY:|DATABASE_URL:|POSTGRES_PASSWORD:/);
    expect([...oneShotsOf(text)]).toEqual(['migrate']);
    expect(s.postgres!.image).toBe('postgres:18');
    expect(s.valkey!.image).toBe(STACK_IMAGES.valkey);
  });

  it('a migrate container exited 0 is in sync; exited 1 is drift', () => {
    const stack = glitchtipStack([]);
    const file = stack.render({});
    const ctr = (service: string, state = 'running', status = 'Up 1 minute') => ({
      service,
      state,
      status,
      configHash: 'h',
      image: services(file)[service]!.image,
    });
    const st = (migrate: ReturnType<typeof ctr>): StackState => ({
      docker: true,
      file,
      hashes: {},
      vars: {},
      containers: [ctr('postgres'), ctr('valkey'), ctr('web'), ctr('worker'), migrate],
    });
    expect(diffStack(stack, st(ctr('migrate', 'exited', 'Exited (0) 2 minutes ago')))).toEqual([]);
    expect(diffStack(stack, st(ctr('migrate', 'exited', 'Exited (1) 2 minutes ago')))[0]!.summary).toBe(
      'start stack glitchtip service migrate (is exited)',
    );
  });
});

describe('dokploy', () => {
  const st = (swarm: string, network = 'overlay true', tailnet: string | undefined = TAILNET) => ({
    docker: true,
    swarm,
    network,
    tailnet,
  });
  it.each([
    [st('active'), []],
    [st('inactive'), ['swarm-inactive']],
    [st('active', ''), ['network-missing']],
    [st('active', 'bridge false'), ['network-missing']],
    [st('pending'), ['swarm-foreign']],
    [st('locked'), ['swarm-foreign']],
  ])('swarm %j -> %j', (state, kinds) => {
    expect(diffSwarm(state).map((c) => c.kind)).toEqual(kinds);
  });

  it('never leaves a swarm; initialises only an inactive one, on the tailnet address', () => {
    for (const s of ['active', 'inactive', 'pending', 'error', 'locked'])
      expect(swarmScript(st(s, ''))).not.toMatch(/swarm leave|--force|traefik\.yml/);
    expect(swarmScript(st('active', ''))).not.toContain('swarm init');
    expect(swarmScript(st('inactive'))).toContain(
      `--advertise-addr ${TAILNET} --listen-addr ${TAILNET}:2377`,
    );
    expect(swarmScript({ ...st('inactive', ''), tailnet: undefined })).toMatch(/exit 1$/);
    expect(swarmScript(st('pending'))).toMatch(/resolve it by hand.*exit 1$/);
  });

  it('reads the probe', () => {
    const out = '@@swarm\ninactive\n@@network\n\n@@tailnet\ntailnet=100.77.0.10\n';
    expect(parseSwarm(out)).toEqual({
      docker: true,
      swarm: 'inactive',
      network: '',
      tailnet: TAILNET,
    });
    expect(parseSwarm('@@nodocker\n').docker).toBe(false);
  });
});
