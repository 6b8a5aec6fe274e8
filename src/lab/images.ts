import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cacheDir,
  HOST_IMAGE,
  LABEL,
  labAssetsDir,
  MIRROR,
  SERVICES_IMAGE,
  SUITE,
  UPSTREAM,
} from './constants.js';
import { docker, dockerTry, imageExists, must } from './exec.js';
import { withLock } from './tools.js';
import type { LabProgress } from './types.js';

function since(t0: number): string {
  return `${((Date.now() - t0) / 1000).toFixed(0)} s`;
}

/** Image builds are shared by every lab on the machine, so they hold a machine-wide lock. */
export function withBuildLock<T>(progress: LabProgress, fn: () => Promise<T>): Promise<T> {
  return withLock(join(cacheDir(), 'build.lock'), 'the lab image build', progress, fn);
}

/** The host image: debootstrap + import, built once and cached (an existing image is kept). */
export async function ensureHostImage(progress: LabProgress): Promise<void> {
  if (await imageExists(HOST_IMAGE)) return;
  progress(`building ${HOST_IMAGE} with debootstrap from ${MIRROR} (takes a minute or two, once)`);
  const t0 = Date.now();
  await must('sh', [join(labAssetsDir(), 'images', 'build-host.sh'), HOST_IMAGE, SUITE, MIRROR]);
  progress(`built ${HOST_IMAGE} in ${since(t0)}`);
}

/** The services image: the host image plus Debian's docker-registry, committed once. */
export async function ensureServicesImage(progress: LabProgress): Promise<void> {
  if (await imageExists(SERVICES_IMAGE)) return;
  progress(`building ${SERVICES_IMAGE} (apt-get install docker-registry)`);
  const t0 = Date.now();
  const tmp = 'infra-lab-build-services';
  await dockerTry(['rm', '-f', tmp]);
  const script =
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null' +
    ' && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* && mkdir -p /etc/infra-lab /srv/apt';
  try {
    await docker(['run', '--name', tmp, '--label', LABEL, HOST_IMAGE, 'sh', '-c', script]);
    const assets = join(labAssetsDir(), 'services');
    await docker(['cp', join(assets, 'entry.sh'), `${tmp}:/usr/local/bin/infra-lab-services`]);
    await docker(['cp', join(assets, 'registry.yml'), `${tmp}:/etc/infra-lab/registry.yml`]);
    await docker([
      'commit',
      '-c',
      'CMD ["sh", "/usr/local/bin/infra-lab-services"]',
      '-c',
      `LABEL ${LABEL}`,
      tmp,
      SERVICES_IMAGE,
    ]);
  } finally {
    await dockerTry(['rm', '-f', tmp]);
  }
  progress(`built ${SERVICES_IMAGE} in ${since(t0)}`);
}

/** A hash of every file under DIR, so stand-in edits rebuild the repository and nothing else does. */
export function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(p.slice(dir.length)).update('\0').update(readFileSync(p)).update('\0');
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** Builds (when its sources changed) the signed apt repository; returns the directory the services container serves. */
export async function ensureAptRepo(progress: LabProgress): Promise<string> {
  const out = join(cacheDir(), 'www');
  const assets = labAssetsDir();
  const base = UPSTREAM.tailscaleApt.replace(/\/tailscale\/stable$/, '');
  const hash = createHash('sha256')
    .update(treeHash(join(assets, 'standins')))
    .update(readFileSync(join(assets, 'apt', 'build-repo.sh')))
    .update(base)
    .digest('hex');
  const stamp = join(cacheDir(), 'apt.hash');
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return out;
  progress(
    'building the lab apt repository (stand-in tailscale and cloudflared, signed with a throwaway key)',
  );
  mkdirSync(out, { recursive: true });
  await must('sh', [
    join(assets, 'apt', 'build-repo.sh'),
    out,
    join(cacheDir(), 'gnupg'),
    join(assets, 'standins'),
    base,
  ]);
  writeFileSync(stamp, hash);
  return out;
}
