/**
 * A swarm service's spec as infra compares it: read from `docker service inspect`, and the
 * `docker service update` arguments that bring one spec to another. Which specs Dokploy wants:
 * tasks/dokploy-services.ts.
 */

export interface Mount {
  type: string;
  source: string;
  target: string;
}
export interface Port {
  published: number;
  target: number;
  protocol: string;
  mode: string;
}
/** The part of a service's spec infra owns and compares; everything else is left alone. */
export interface ServiceSpec {
  name: string;
  image: string;
  env: string[];
  secrets: { source: string; target: string }[];
  ports: Port[];
  networks: string[];
  mounts: Mount[];
  /** `dnsrr` (see desiredServices in tasks/dokploy-services.ts) or swarm's default `vip`. */
  endpointMode: string;
}

const sorted = <T>(xs: T[], key: (x: T) => string) => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
const portKey = (p: Port) => `${p.published}:${p.target}/${p.protocol}/${p.mode}`;
const mountKey = (m: Mount) => `${m.type}:${m.source}:${m.target}`;
const secretKey = (s: { source: string; target: string }) => `${s.source}:${s.target}`;

// biome-ignore lint/suspicious/noExplicitAny: docker's JSON, read field by field
type Json = any;

/** Pure: `docker service inspect --format '{{json .Spec}}'` in; network IDs named by `networks`. */
export function parseServiceSpec(json: string, networks: Record<string, string>): ServiceSpec | null {
  if (!json.trim().startsWith('{')) return null;
  const s: Json = JSON.parse(json);
  const c = s.TaskTemplate?.ContainerSpec ?? {};
  return {
    name: s.Name,
    // A resolved image carries @sha256:…; the tag is what infra pins.
    image: String(c.Image ?? '').replace(/@sha256:[0-9a-f]+$/, ''),
    env: [...(c.Env ?? [])].sort(),
    secrets: sorted(
      (c.Secrets ?? []).map((x: Json) => ({ source: x.SecretName, target: x.File?.Name })),
      secretKey,
    ),
    ports: sorted(
      (s.EndpointSpec?.Ports ?? []).map((p: Json) => ({
        published: p.PublishedPort,
        target: p.TargetPort,
        protocol: p.Protocol ?? 'tcp',
        mode: p.PublishMode ?? 'ingress',
      })),
      portKey,
    ),
    networks: (s.TaskTemplate?.Networks ?? []).map((n: Json) => networks[n.Target] ?? n.Target).sort(),
    mounts: sorted(
      (c.Mounts ?? []).map((m: Json) => ({ type: m.Type, source: m.Source, target: m.Target })),
      mountKey,
    ),
    endpointMode: s.EndpointSpec?.Mode ?? 'vip',
  };
}

/** Pure: the lines of `docker service update` arguments that bring `have` to `want`, and why. */
export function specDelta(have: ServiceSpec, want: ServiceSpec): { why: string[]; args: string[] } {
  const why: string[] = [];
  const args: string[] = [];
  if (have.image !== want.image) {
    why.push(`image ${want.image} (runs ${have.image})`);
    args.push('--image', want.image);
  }
  if (have.endpointMode !== want.endpointMode) {
    why.push(`endpoint mode ${want.endpointMode} (is ${have.endpointMode})`);
    args.push('--endpoint-mode', want.endpointMode);
  }
  const set = <T>(
    name: string,
    h: T[],
    w: T[],
    key: (x: T) => string,
    add: string,
    rm: string,
    arg: (x: T, adding: boolean) => string,
  ) => {
    const hk = new Set(h.map(key));
    const wk = new Set(w.map(key));
    for (const x of w)
      if (!hk.has(key(x))) {
        why.push(`${name} ${key(x)} missing`);
        args.push(add, arg(x, true));
      }
    for (const x of h)
      if (!wk.has(key(x))) {
        why.push(`${name} ${key(x)} not infra's`);
        args.push(rm, arg(x, false));
      }
  };
  set(
    'env',
    have.env,
    want.env,
    (e) => e,
    '--env-add',
    '--env-rm',
    (e, adding) => (adding ? e : e.split('=')[0]!),
  );
  set('secret', have.secrets, want.secrets, secretKey, '--secret-add', '--secret-rm', (s, adding) =>
    adding ? `source=${s.source},target=${s.target}` : s.source,
  );
  set('port', have.ports, want.ports, portKey, '--publish-add', '--publish-rm', (p, adding) =>
    adding ? publishArg(p) : `published=${p.published},target=${p.target},protocol=${p.protocol}`,
  );
  set(
    'network',
    have.networks,
    want.networks,
    (n) => n,
    '--network-add',
    '--network-rm',
    (n) => n,
  );
  set('mount', have.mounts, want.mounts, mountKey, '--mount-add', '--mount-rm', (m, adding) =>
    adding ? mountArg(m) : m.target,
  );
  return { why, args };
}

export const publishArg = (p: Port) =>
  `published=${p.published},target=${p.target},protocol=${p.protocol},mode=${p.mode}`;
export const mountArg = (m: Mount) => `type=${m.type},source=${m.source},target=${m.target}`;
