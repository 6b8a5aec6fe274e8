import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { SERVICES_IMAGE } from './constants.js';
import { ensureLabService } from './lab-service.js';

export const CF_API_PORT = 8080;
/** Where the stand-in's seed (tokens, the account's zones) and state live: <lab>/cloudflare. */
export const cfApiDir = (stateDir: string) => join(stateDir, 'cloudflare');

/**
 * The lab's Cloudflare API stand-in (lab/cloudflare/cfapi.py): one per lab, as a Cloudflare
 * account is one per company, on the shared public network beside the services host, run from
 * the services image (its python3) with the script mounted, so no image changes for it.
 * Returns its base URL, which the lab records as `upstream.cloudflareApi`.
 */
export async function ensureCloudflareApi(stateDir: string): Promise<string> {
  const dir = cfApiDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const address = await ensureLabService(stateDir, {
    role: 'cloudflare',
    // High addresses of the shared network: the hosts take theirs from .10 upwards.
    top: 250,
    floor: 200,
    run: [
      ...['-v', `${join(PACKAGE_ROOT, 'lab', 'cloudflare')}:/opt/cfapi:ro`, '-v', `${dir}:/var/lib/cfapi`],
      ...[
        '--entrypoint',
        'python3',
        SERVICES_IMAGE,
        '/opt/cfapi/cfapi.py',
        '/var/lib/cfapi',
        String(CF_API_PORT),
      ],
    ],
    ready: `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${CF_API_PORT}/lab/calls', timeout=2).read()"`,
  });
  return url(address);
}

const url = (address: string) => `http://${address}:${CF_API_PORT}/client/v4`;
