import {
  APT_PORT,
  LABEL,
  PUBLIC_NET,
  REGISTRY_LOCAL_PORT,
  REGISTRY_PORT,
  REGISTRY_VOLUME,
  SERVICES_ADDRESS,
  SERVICES_CONTAINER,
  SERVICES_IMAGE,
} from './constants.js';
import { dexec, docker, dockerTry, sleep } from './exec.js';

/**
 * The lab's stand-in upstreams: the signed apt repository (bind-mounted from the cache, so a
 * rebuilt repository is served at once) and the image registry the hosts use as a mirror.
 */
export async function ensureServices(wwwDir: string): Promise<void> {
  const st = await dockerTry(['inspect', '-f', '{{.State.Status}}', SERVICES_CONTAINER]);
  if (st.code === 0 && st.stdout.trim() === 'running') return;
  // A stopped or half-created container is simply replaced: its state lives in the volume and the cache.
  if (st.code === 0) await docker(['rm', '-f', SERVICES_CONTAINER]);
  await docker(['volume', 'create', '--label', LABEL, REGISTRY_VOLUME]);
  await docker([
    'run',
    '-d',
    ...['--name', SERVICES_CONTAINER, '--hostname', 'lab-services', '--label', LABEL],
    ...['--network', PUBLIC_NET.name, '--ip', SERVICES_ADDRESS],
    // Loopback only: Docker treats 127.0.0.0/8 registries as insecure, so pushing needs no daemon config.
    ...['-p', `127.0.0.1:${REGISTRY_LOCAL_PORT}:${REGISTRY_PORT}`],
    ...['-v', `${REGISTRY_VOLUME}:/var/lib/docker-registry`, '-v', `${wwwDir}:/srv/apt:ro`],
    SERVICES_IMAGE,
  ]);
  await waitServices();
}

/** Both endpoints answer, checked from inside the container (no traffic leaves the lab). */
async function waitServices(): Promise<void> {
  const probe = `python3 - <<'PY'
import urllib.request
for u in ("http://127.0.0.1:${APT_PORT}/", "http://127.0.0.1:${REGISTRY_PORT}/v2/"):
    urllib.request.urlopen(u, timeout=2).read()
PY`;
  for (let i = 0; i < 100; i++) {
    if ((await dexec(SERVICES_CONTAINER, probe)).code === 0) return;
    await sleep(200);
  }
  const logs = await dockerTry(['logs', '--tail', '20', SERVICES_CONTAINER]);
  throw new Error(`${SERVICES_CONTAINER} did not come up: ${logs.stderr || logs.stdout}`);
}
