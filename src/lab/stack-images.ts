import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STACK_IMAGES } from '../tasks/stack-images.js';
import { HOST_IMAGE, labAssetsDir } from './constants.js';
import { docker, imageExists, must } from './exec.js';
import type { LabProgress } from './types.js';

/** The shared base of every stack image: one layer set that each inner engine pulls once. */
const BASE = 'infra-lab/stack-base:trixie';

/** Real image name -> what the lab puts under it: a LAB STAND-IN kind, or real Valkey. */
const STANDINS: Record<string, string> = {
  [STACK_IMAGES.grafana]: 'grafana',
  [STACK_IMAGES.loki]: 'loki',
  [STACK_IMAGES.alloy]: 'alloy',
  [STACK_IMAGES.glitchtip]: 'glitchtip',
  [STACK_IMAGES.dokploy]: 'dokploy',
  [STACK_IMAGES.traefik]: 'traefik',
  [STACK_IMAGES.metabase]: 'metabase',
};

/** Every stack image the lab can provide (postgres:N comes from the registry's own recipes). */
export const STACK_IMAGE_NAMES = [...Object.keys(STANDINS), STACK_IMAGES.valkey];

async function ensureBase(progress: LabProgress): Promise<void> {
  if (await imageExists(BASE)) return;
  progress(`building ${BASE}: the lab host rootfs + Debian's valkey-server (once)`);
  await must('sh', [join(labAssetsDir(), 'images', 'stacks', 'build-base.sh'), HOST_IMAGE, BASE]);
}

/** Changes with the build assets (lab/images/stacks/*), so an edited stand-in is rebuilt. */
export function stackRecipeHash(name: string): string {
  const dir = join(labAssetsDir(), 'images', 'stacks');
  const h = createHash('sha256').update(name).update(HOST_IMAGE);
  // Files only: a stray directory (python3's __pycache__ after running a stand-in by hand) is no asset.
  const files = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile());
  for (const f of files.map((e) => e.name).sort())
    h.update(f)
      .update('\0')
      .update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

/** Builds one stack image as `tag` (the registry's local tag for NAME:TAG). */
export async function buildStackImage(
  name: string,
  tag: string,
  progress: LabProgress,
  labels: string[] = [],
): Promise<void> {
  await ensureBase(progress);
  const kind = STANDINS[name];
  const ctx = mkdtempSync(join(tmpdir(), 'infra-lab-stack-'));
  try {
    cpSync(join(labAssetsDir(), 'images', 'stacks'), ctx, { recursive: true });
    // A stand-in with its own needs (GlitchTip, Metabase: a PostgreSQL driver) has Dockerfile.<kind>.
    const own = kind && existsSync(join(ctx, `Dockerfile.${kind}`));
    const file = own ? `Dockerfile.${kind}` : kind ? 'Dockerfile' : 'Dockerfile.valkey';
    const args = { BASE, REAL: name, ...(kind ? { STANDIN: kind } : {}) };
    // The classic builder resolves FROM against local images only: nothing is pulled.
    await docker(
      [
        'build',
        '-q',
        '-f',
        join(ctx, file),
        ...Object.entries(args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
        ...labels,
        '-t',
        tag,
        ctx,
      ],
      { env: { DOCKER_BUILDKIT: '0' } },
    );
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

export function isStackImage(name: string): boolean {
  return STACK_IMAGE_NAMES.includes(name);
}
