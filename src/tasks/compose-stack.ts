import { type Document, parse } from 'yaml';
import type { Change, Probe, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import { cached } from '../util/cached.js';
import { unifiedDiff } from '../util/unified-diff.js';
import { col, selectContainers, unlessDocker } from './docker-reads.js';
import { atomicWrite, base64Of, fromBase64 } from './lib/file.js';
import { probeFields, probes } from './lib/probe.js';

/**
 * A docker compose project kept to a rendered file: uploaded atomically, validated with
 * `docker compose config` before it replaces the old one, `up -d --wait` only when the file,
 * an image, the config hash, or a container's state differs. Idempotency limit: an image tag
 * re-pointed upstream with the same name is not seen (compose hashes the name, not the digest).
 */
export interface ComposeStack {
  project: string;
  /** Directory of the stack on the host; the file is <dir>/compose.yaml. */
  dir: string;
  /** The rendered compose file, from facts the probe read on the host (`vars`). */
  render(vars: Record<string, string>): string;
  /** Read-only shell printing `KEY=VALUE` lines that the rendering depends on. */
  varsProbe?: string;
  /** Seconds `up --wait` may take before the stack counts as unhealthy. */
  waitSec?: number;
}

export interface Container {
  service: string;
  state: string;
  configHash: string;
  image: string;
  status: string;
}

export interface StackState {
  docker: boolean;
  /** The compose file on the host, or null when there is none. */
  file: string | null;
  /** `config --hash='*'` of the file on the host: service -> hash. */
  hashes: Record<string, string>;
  containers: Container[];
  vars: Record<string, string>;
}

const SEP = '\t';

export function composeFile(dir: string): string {
  return `${dir}/compose.yaml`;
}

export function composeCmd(project: string, dir: string, ...args: string[]): string {
  return shCmd(['docker', 'compose', '-p', project, '-f', composeFile(dir), ...args]);
}

/**
 * Where compose's `config --hash` of the file is kept, written after every `up`. Asking compose
 * costs a Go start-up per stack (most of a check's time on a host); the hashes of a file only
 * change with its content or with compose itself, so they are kept under a key of both, and
 * recomputed whenever the key differs (a file edited by hand, compose upgraded, no cache yet).
 */
const hashCacheFile = (dir: string): string => `${dir}/.config-hash`;

const COMPOSE_PLUGINS = ['/usr/libexec', '/usr/lib', '/usr/local/lib', '/usr/local/libexec']
  .map((d) => `${d}/docker/cli-plugins/docker-compose`)
  .concat('"$HOME/.docker/cli-plugins/docker-compose"');

/** Shell: the cache key of the compose file in `dir` (its content + the compose plugin's identity). */
function hashKeyScript(dir: string): string {
  return `{ cat ${shq(composeFile(dir))}; stat -L -c '%n %s %Y %i' ${COMPOSE_PLUGINS.join(' ')} 2>/dev/null; } | sha256sum | cut -d' ' -f1`;
}

/** Shell: compose's hash per service, `service hash` lines (from the cache when its key matches). */
function hashesScript(s: Pick<ComposeStack, 'project' | 'dir'>): string {
  const cache = shq(hashCacheFile(s.dir));
  return [
    `if [ "$(head -n1 ${cache} 2>/dev/null)" = "$(${hashKeyScript(s.dir)})" ]; then tail -n +2 ${cache}`,
    `else ${composeCmd(s.project, s.dir, 'config', '--hash=*')} 2>/dev/null; fi`,
  ].join('\n');
}

export function composeProbe(s: Pick<ComposeStack, 'project' | 'dir' | 'varsProbe'>): Probe {
  const f = shq(composeFile(s.dir));
  const ctr = (['service', 'state', 'configHash', 'image', 'status'] as const).map(col).join(' "\t" ');
  return probes(
    s.varsProbe ? `( ${s.varsProbe} ) | sed 's/^/var /'` : ':',
    `if [ -f ${f} ]; then echo "file $(${base64Of(composeFile(s.dir))})"; fi`,
    unlessDocker('echo nodocker'),
    `if [ -f ${f} ]; then\n${hashesScript(s)}\nfi | sed 's/^/hash /'`,
    selectContainers(`${col('project')} == p`, `"ctr " ${ctr}`, { p: s.project }),
    'true',
  );
}

/** The probe's script alone (it expects $infra_containers set). */
export const stackProbe = (s: Pick<ComposeStack, 'project' | 'dir' | 'varsProbe'>): string =>
  composeProbe(s).script;

export function parseStackProbe(stdout: string): StackState {
  const st: StackState = { docker: true, file: null, hashes: {}, containers: [], vars: {} };
  for (const line of stdout.split('\n')) {
    const [tag, ...rest] = line.split(' ');
    const body = rest.join(' ');
    if (tag === 'nodocker') st.docker = false;
    else if (tag === 'file') st.file = fromBase64(body);
    else if (tag === 'hash') {
      const [svc, hash] = body.trim().split(/\s+/);
      if (svc && hash) st.hashes[svc] = hash;
    } else if (tag === 'var') {
      const eq = body.indexOf('=');
      if (eq > 0) st.vars[body.slice(0, eq)] = body.slice(eq + 1).trim();
    } else if (tag === 'ctr') {
      const [service = '', state = '', configHash = '', image = '', status = ''] = body.split(SEP);
      st.containers.push({ service, state, configHash, image, status });
    }
  }
  return st;
}

type ComposeDoc = {
  services?: Record<
    string,
    { image?: string; depends_on?: Record<string, { condition?: string }> | string[] }
  >;
};
const parsed = new Map<string, ComposeDoc>();

/**
 * A rendering's text, with its parsed form remembered: the diff asks the structure of the file
 * (services, images, one-shots), and parsing YAML back was the largest CPU cost of a check.
 */
export function composeText(doc: Document): string {
  const text = doc.toString();
  parsed.set(text, doc.toJS() as ComposeDoc);
  return text;
}

/** A rendered file parsed once per run, however many questions are asked of it. */
function composeDoc(rendered: string): ComposeDoc {
  return cached(parsed, rendered, () => parse(rendered) as ComposeDoc);
}

/**
 * Pure: one-shot services (migrations), recognised as compose's `up --wait` recognises them: another
 * service waits for them with `condition: service_completed_successfully`. Exited 0 is their goal state.
 */
export function oneShotsOf(rendered: string): Set<string> {
  const doc = composeDoc(rendered);
  const out = new Set<string>();
  for (const s of Object.values(doc.services ?? {}))
    if (s.depends_on && !Array.isArray(s.depends_on))
      for (const [dep, d] of Object.entries(s.depends_on))
        if (d?.condition === 'service_completed_successfully') out.add(dep);
  return out;
}

/** Pure: the services a rendered file declares, with their image. */
export function servicesOf(rendered: string): Record<string, string> {
  const doc = composeDoc(rendered);
  return Object.fromEntries(Object.entries(doc.services ?? {}).map(([n, s]) => [n, s.image ?? '']));
}

export function diffStack(s: Pick<ComposeStack, 'project' | 'dir' | 'render'>, st: StackState): Change[] {
  const want = s.render(st.vars);
  const path = composeFile(s.dir);
  const stack = `stack ${s.project}`;
  if (!st.docker)
    return [{ summary: `create ${stack} (docker is not installed yet)`, kind: 'stack-missing' }];
  if (st.file === null && st.containers.length === 0)
    return [
      { summary: `create ${stack} (${path})`, kind: 'stack-missing', diff: unifiedDiff('', want, path) },
    ];
  const changes: Change[] = [];
  if (st.file !== want)
    changes.push({
      summary: `update ${path}`,
      kind: 'stack-file',
      diff: unifiedDiff(st.file ?? '', want, path),
    });
  const oneShots = oneShotsOf(want);
  for (const [service, image] of Object.entries(servicesOf(want))) {
    const c = st.containers.find((x) => x.service === service);
    const what = `${stack} service ${service}`;
    if (!c) {
      changes.push({
        summary: `create ${what} (no container)`,
        kind: 'stack-missing',
        expected: 'running',
        actual: null,
      });
      continue;
    }
    const done = oneShots.has(service) && c.state === 'exited' && /^Exited \(0\)/.test(c.status);
    if (c.state !== 'running' && !done)
      changes.push({
        summary: `start ${what} (is ${c.state})`,
        kind: 'stack-stopped',
        expected: 'running',
        actual: c.state,
      });
    else if (/\(unhealthy\)/.test(c.status))
      changes.push({
        summary: `recreate ${what} (unhealthy)`,
        kind: 'stack-unhealthy',
        expected: 'healthy',
        actual: 'unhealthy',
      });
    if (c.image !== image)
      changes.push({
        summary: `recreate ${what} with ${image} (runs ${c.image})`,
        kind: 'stack-image',
        expected: image,
        actual: c.image,
      });
    else if (st.file === want && st.hashes[service] && st.hashes[service] !== c.configHash)
      changes.push({
        summary: `recreate ${what} (its container does not match ${path})`,
        kind: 'stack-config-hash',
        expected: st.hashes[service],
        actual: c.configHash || null,
      });
  }
  return changes;
}

/** Upload to a temp file beside the target, validate it, rename, then `up --wait`. */
export function applyStackScript(s: ComposeStack, changes: Change[]): string {
  const recreate = changes.some((c) => c.kind === 'stack-unhealthy') ? ['--force-recreate'] : [];
  const wait = String(s.waitSec ?? 180);
  return [
    'set -e',
    // Validated beside the live file, so relative paths (env files, configs) resolve the same.
    atomicWrite({
      path: composeFile(s.dir),
      mode: '600',
      mkdir: '700',
      tempPrefix: '.compose',
      validate: {
        command: `docker compose -p ${shq(s.project)} -f "$tmp" config -q`,
        invalid: `stack ${s.project}: docker compose rejected the file, ${composeFile(s.dir)} is unchanged`,
      },
    }),
    `if ! ${composeCmd(s.project, s.dir, 'up', '-d', '--remove-orphans', ...recreate, '--wait', '--wait-timeout', wait)}; then`,
    `  echo "stack ${s.project} is not healthy after ${wait}s; last log lines:" >&2`,
    `  ${composeCmd(s.project, s.dir, 'logs', '--no-color', '--tail', '15')} >&2 || true`,
    '  exit 1',
    'fi',
    writeHashCacheScript(s),
  ].join('\n');
}

/** Shell: writes the hash cache of the stack's current file (a failure only costs later speed). */
export function writeHashCacheScript(s: Pick<ComposeStack, 'project' | 'dir'>): string {
  const cache = shq(hashCacheFile(s.dir));
  return [
    `{ ${hashKeyScript(s.dir)} && ${composeCmd(s.project, s.dir, 'config', '--hash=*')}; } > ${cache}.tmp 2>/dev/null \\`,
    `  && mv -f ${cache}.tmp ${cache} || rm -f ${cache}.tmp`,
  ].join('\n');
}

/** A compose stack up as rendered: task `stack:<project>`. */
export function composeStackTask(s: ComposeStack, after: string[] = []): Task<StackState> {
  return {
    id: `stack:${s.project}`,
    after,
    ...probeFields(composeProbe(s)),
    parse: parseStackProbe,
    diff: (st) => diffStack(s, st),
    apply: (st, changes) => {
      const content = s.render(st.vars);
      return [
        {
          script: applyStackScript(s, changes),
          stdin: content,
          timeoutMs: ((s.waitSec ?? 180) + 600) * 1000,
        },
      ];
    },
  };
}
