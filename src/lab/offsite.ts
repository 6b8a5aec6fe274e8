import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_IMAGE, LABEL, SUITE } from './constants.js';
import { docker, dockerTry, imageExists } from './exec.js';
import { ensureLabService } from './lab-service.js';
import type { LabProgress } from './types.js';

/**
 * The lab's off-site target for `backups.offsite` (docs/apps.md "Off-site"): Debian's own `rclone`
 * running `rclone serve restic` — restic's REST backend protocol, real software end to end
 * (rclone 1.60, cmd/serve/restic: "Multiple repositories … must end with /"). One per lab, as
 * a backup provider's account is one per company, on the shared public network; its data in
 * <lab>/offsite, so a test can look at (and break) what the control host wrote.
 */
export const OFFSITE_IMAGE = `infra-lab/offsite:${SUITE}`;
export const OFFSITE_PORT = 8000;
export const offsiteDir = (stateDir: string) => join(stateDir, 'offsite');

/** The host image plus Debian's rclone, committed once (a machine-wide cache, like the others). */
export async function ensureOffsiteImage(progress: LabProgress): Promise<void> {
  if (await imageExists(OFFSITE_IMAGE)) return;
  progress(`building ${OFFSITE_IMAGE} (apt-get install rclone)`);
  const tmp = 'infra-lab-build-offsite';
  await dockerTry(['rm', '-f', tmp]);
  const script =
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rclone >/dev/null' +
    ' && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* && rclone version | head -n 1';
  try {
    await docker(['run', '--name', tmp, '--label', LABEL, HOST_IMAGE, 'sh', '-c', script]);
    await docker(['commit', '-c', 'CMD ["sh"]', '-c', `LABEL ${LABEL}`, tmp, OFFSITE_IMAGE]);
  } finally {
    await dockerTry(['rm', '-f', tmp]);
  }
}

/** Starts (or keeps) this lab's rclone REST server; returns the repository URL for the inventory. */
export async function ensureOffsite(stateDir: string): Promise<string> {
  const dir = offsiteDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const address = await ensureLabService(stateDir, {
    role: 'offsite',
    // High addresses of the shared network, below the Cloudflare stand-ins' (250 downwards).
    top: 199,
    floor: 150,
    run: [
      ...['-v', `${dir}:/srv/restic`, '--entrypoint', 'rclone', OFFSITE_IMAGE],
      // No listing cache: a test removes or breaks the repository's files under the server.
      ...['serve', 'restic', '--addr', `0.0.0.0:${OFFSITE_PORT}`, '--cache-objects=false', '/srv/restic'],
    ],
    // Any HTTP answer will do: the root of a REST server without a repository is a 404.
    ready: `python3 -c "import urllib.request,urllib.error
try: urllib.request.urlopen('http://127.0.0.1:${OFFSITE_PORT}/', timeout=2)
except urllib.error.HTTPError: pass"`,
  });
  return url(address);
}

/** The lab's one repository on it (rclone serves each directory as a repository). */
const url = (address: string) => `rest:http://${address}:${OFFSITE_PORT}/infra/`;
