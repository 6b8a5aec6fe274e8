import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { edgeOf, ensureCloudflareApi, pointAtEdge } from './cloudflare-api.js';
import {
  cacheDir,
  containerName,
  hostAddresses,
  LABEL,
  SERVICES_CONTAINER,
  STATE_LABEL_KEY,
  tailnetNet,
} from './constants.js';
import { dockerTry } from './exec.js';
import { ensureHostTools } from './host-tools.js';
import { createHost, hostState, rebootHost, removeHost, startHost } from './hosts.js';
import { ensureAptRepo, ensureHostImage, ensureServicesImage, withBuildLock } from './images.js';
import { addressHolders, ensurePublicNet, ensureTailnet, removeTailnets } from './networks.js';
import { ensureOffsite, ensureOffsiteImage } from './offsite.js';
import { LAB_DEFAULT_IMAGES, labEnsureImages } from './registry.js';
import { ensureServices } from './services.js';
import { emptyState, ensureLabKey, readLabState, stateFile, writeLabState } from './state.js';
import { withLock } from './tools.js';
import type { LabHost, LabHostSpec, LabProgress, LabState } from './types.js';

const NAME = /^[a-z0-9][a-z0-9-]{0,40}$/;
/**
 * One lock for the machine, not per lab: public addresses, tailnet slots and the shared services
 * are global, so two labs (two state dirs) must never change Docker objects at the same time.
 */
const lockOf = (_stateDir: string) => join(cacheDir(), 'lab.lock');

function findHost(state: LabState | undefined, name: string): LabHost {
  const host = state?.hosts.find((h) => h.name === name);
  if (!host) throw new Error(`no lab host named ${name}${state ? '' : ' (no lab: run lab up)'}`);
  return host;
}

/** The state dir of the lab that created the container; undefined when there is no container. */
async function ownerOf(container: string): Promise<string | undefined> {
  const r = await dockerTry(['inspect', '-f', '{{index .Config.Labels "infra.lab.state"}}', container]);
  return r.code === 0 ? r.stdout.trim().replace('<no value>', '') : undefined;
}

/** Brings the lab to match `specs`; hosts that exist and booted are kept (idempotent). */
export async function labUp(
  specs: LabHostSpec[],
  stateDir: string,
  progress: LabProgress,
): Promise<LabState> {
  for (const s of specs)
    if (!NAME.test(s.name))
      throw new Error(`lab host name ${JSON.stringify(s.name)} is not a valid hostname`);
  await ensureHostTools(progress);
  const www = await withBuildLock(progress, async () => {
    await ensureHostImage(progress);
    await ensureServicesImage(progress);
    await ensureOffsiteImage(progress);
    return ensureAptRepo(progress);
  });
  return withLock(lockOf(stateDir), 'the lab', progress, async () => {
    let state = readLabState(stateDir);
    if (state && state.version !== 2) {
      // A lab from before labs were scoped: its hosts have global names; make this lab anew.
      progress('replacing a lab made by an older infra (its hosts had global names)');
      await removeLabObjects(stateDir);
      state = undefined;
    }
    await ensurePublicNet();
    const tailnet = await ensureTailnet(stateDir, state?.slot);
    const slot = Number(tailnet.prefix.split('.')[2]);
    state ??= emptyState(stateDir, slot);
    const moved = state.slot !== slot;
    state.slot = slot;
    const pubKey = await ensureLabKey(state.keyFile);
    await ensureServices(www);
    const pending: Promise<void>[] = [];
    // Public addresses are global: another lab's running hosts hold theirs.
    const holders = await addressHolders();
    const takenFor = (container: string) => (addr: string) =>
      state.hosts.some((h) => h.publicAddress === addr && h.container !== container) ||
      (holders.has(addr) && holders.get(addr) !== container);
    for (const spec of specs) {
      let host = state.hosts.find((h) => h.name === spec.name);
      // A container is kept only if this lab made it: another lab's (a crashed run, a copied state
      // dir) has keys and an authorisation this lab cannot vouch for, so it is replaced.
      let known = Boolean(host);
      const container = containerName(spec.name, stateDir);
      const taken = takenFor(container);
      if (!host || moved || host.container !== container || taken(host.publicAddress)) {
        let i = 0;
        while (taken(hostAddresses(i, tailnet).publicAddress)) i++;
        if (host && taken(host.publicAddress))
          progress(`${spec.name}: ${host.publicAddress} is held by another lab's host; moving it`);
        host ??= { name: spec.name, role: spec.role, container } as LabHost;
        Object.assign(host, hostAddresses(i, tailnet), {
          container,
          port: 22,
          user: 'root',
          keyFile: state.keyFile,
          state: 'missing',
        });
        if (!state.hosts.includes(host)) state.hosts.push(host);
        known = false;
      }
      host.role = spec.role;
      const h = host;
      pending.push(
        (async () => {
          const owner = await ownerOf(h.container);
          // Unlabelled: made before labs were labelled with their dir; this lab's if it lists it.
          const mine = known && (owner === stateDir || owner === '');
          if (owner !== undefined && !mine)
            progress(`${h.name}: replacing ${h.container} (made by ${owner || 'an unknown lab'})`);
          const st = mine ? await hostState(h.container) : 'missing';
          if (st === 'running' || st === 'degraded') h.state = st;
          else if (st === 'stopped') h.state = await startHost(h);
          else {
            progress(`${h.name}: creating (${h.role})`);
            await createHost(h, pubKey, state.knownHostsFile, stateDir, tailnet, progress);
          }
        })(),
      );
    }
    pending.push(
      (async () => {
        state.upstream.cloudflareApi = await ensureCloudflareApi(stateDir);
      })(),
      (async () => {
        state.upstream.offsiteRestic = await ensureOffsite(stateDir);
      })(),
    );
    const results = await Promise.allSettled(pending);
    writeLabState(state);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await wireEdge(
      state,
      state.hosts.filter((h) => specs.some((s) => s.name === h.name)),
    );
    await labEnsureImages(LAB_DEFAULT_IMAGES, progress);
    return state;
  });
}

/**
 * The lab's tunnel path: each host's cloudflared connects to this lab's edge (recorded as
 * `upstream.cloudflareEdge`, where a request for a public hostname goes in).
 */
async function wireEdge(state: LabState, hosts: LabHost[]): Promise<void> {
  const api = state.upstream.cloudflareApi;
  if (!api) return;
  state.upstream.cloudflareEdge = edgeOf(api);
  await Promise.all(hosts.map((h) => pointAtEdge(h.container, api)));
  writeLabState(state);
}

const list = async (kind: string, label: string, fmt: string) =>
  (
    await dockerTry([
      ...[kind, 'ls', ...(kind === 'container' ? ['-a'] : [])],
      ...['--filter', `label=${label}`, '--format', fmt],
    ])
  ).stdout
    .split('\n')
    .filter(Boolean);

/** This lab's hosts, their engine volumes and its tailnet; nothing of another lab. */
async function removeLabObjects(stateDir: string, progress: LabProgress = () => {}): Promise<void> {
  const mine = `${STATE_LABEL_KEY}=${stateDir}`;
  const containers = await list('container', mine, '{{.Names}}');
  if (containers.length) progress(`removing ${containers.length} lab containers`);
  await Promise.all(containers.map((c) => removeHost(c)));
  const vols = await list('volume', mine, '{{.Name}}');
  if (vols.length) await dockerTry(['volume', 'rm', '-f', ...vols]);
  await removeTailnets(stateDir);
}

/**
 * Removes this lab (its containers, volumes and tailnet); the shared parts (public network,
 * services, registry, and with --images the images) go only when no other lab has hosts left.
 */
export async function labDown(
  stateDir: string,
  opts: { images: boolean },
  progress: LabProgress,
): Promise<void> {
  await withLock(lockOf(stateDir), 'the lab', progress, async () => {
    await removeLabObjects(stateDir, progress);
    const others = (await list('container', LABEL, '{{.Names}}')).filter((c) => c !== SERVICES_CONTAINER);
    if (others.length) {
      progress(`kept the shared lab services and images: other labs' hosts remain (${others.join(', ')})`);
    } else {
      await dockerTry(['rm', '-f', SERVICES_CONTAINER]);
      for (const n of await list('network', LABEL, '{{.Name}}')) await dockerTry(['network', 'rm', n]);
      const vols = await list('volume', LABEL, '{{.Name}}');
      if (vols.length) await dockerTry(['volume', 'rm', '-f', ...vols]);
      if (opts.images) {
        const imgs = (await list('image', LABEL, '{{.Repository}}:{{.Tag}}')).filter(
          (i) => !i.includes('<none>'),
        );
        if (imgs.length) progress(`removing ${imgs.length} lab images`);
        if (imgs.length) await dockerTry(['image', 'rm', '-f', ...imgs]);
      }
    }
    rmSync(stateFile(stateDir), { force: true });
    rmSync(join(stateDir, 'known_hosts'), { force: true });
  });
}

/** The recorded lab with each host's live state; undefined when there is no lab. */
export async function labStatus(stateDir: string): Promise<LabState | undefined> {
  const state = readLabState(stateDir);
  if (!state) return undefined;
  await Promise.all(state.hosts.map(async (h) => (h.state = await hostState(h.container))));
  return state;
}

/** Returns one host to fresh: a new container and inner-engine volume, new host keys. */
export async function labReset(stateDir: string, name: string, progress: LabProgress): Promise<LabHost> {
  return withLock(lockOf(stateDir), 'the lab', progress, async () => {
    const state = readLabState(stateDir);
    const host = findHost(state, name);
    const pubKey = await ensureLabKey(state!.keyFile);
    progress(`${name}: resetting to a fresh host`);
    await createHost(host, pubKey, state!.knownHostsFile, stateDir, tailnetNet(state!.slot), progress);
    await wireEdge(state!, [host]);
    writeLabState(state!);
    return host;
  });
}

export async function labStopHost(stateDir: string, name: string): Promise<void> {
  const host = findHost(readLabState(stateDir), name);
  const r = await dockerTry(['stop', host.container]);
  if (r.code !== 0) throw new Error(`could not stop ${host.container}: ${r.stderr.trim()}`);
}

export async function labStartHost(stateDir: string, name: string): Promise<void> {
  const host = findHost(readLabState(stateDir), name);
  await startHost(host);
}

/** Reboots one host for real (systemd halts and boots again); returns the state it booted to. */
export async function labReboot(stateDir: string, name: string, progress: LabProgress): Promise<LabHost> {
  const host = findHost(readLabState(stateDir), name);
  if ((await hostState(host.container)) === 'stopped')
    throw new Error(`${name} is stopped; start it with: infra lab up`);
  const t0 = Date.now();
  progress(`${name}: rebooting (systemd halts, then boots again)`);
  const { state, failed } = await rebootHost(host);
  host.state = state;
  const why = failed.length ? ` (failed units: ${failed.join(', ')})` : '';
  progress(`${name}: ${state}${why} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return host;
}
