import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { shq } from '../quote.js';
import { SERVICES_IMAGE } from './constants.js';
import { dexec } from './exec.js';
import { ensureLabService } from './lab-service.js';

export const CF_API_PORT = 8080;
/** The lab edge (lab/cloudflare/edge.py) in the same container: public hostnames, plain HTTP. */
export const CF_EDGE_PORT = 80;
/**
 * Where a lab host's cloudflared stand-in reads its edge's address
 * (lab/standins/cloudflared/usr/lib/cloudflared-lab/lab_edge.py, EDGE_FILE): the lab's answer
 * to the SRV lookup real cloudflared makes (edgediscovery/allregions/discovery.go).
 */
export const EDGE_FILE = '/var/lib/infra-lab/cloudflare-edge';
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
        String(CF_EDGE_PORT),
      ],
    ],
    ready: `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${CF_API_PORT}/lab/calls', timeout=2).read()"`,
  });
  return url(address);
}

const url = (address: string) => `http://${address}:${CF_API_PORT}/client/v4`;

/** The edge's public side for an API URL the lab recorded: where tests send `Host: app.sgl.as`. */
export const edgeOf = (apiUrl: string) => `http://${new URL(apiUrl).hostname}:${CF_EDGE_PORT}`;

/**
 * Points a lab host's cloudflared at this lab's edge: its connector side (`/lab/connector`) is
 * served beside the API. The stand-in reads the file when it starts, so a changed address (the
 * API container made anew elsewhere) restarts a running cloudflared, as a real one would find
 * the edge again after losing it. Nothing else of the host is touched.
 */
export async function pointAtEdge(container: string, apiUrl: string): Promise<void> {
  const connector = shq(new URL(apiUrl).origin);
  const r = await dexec(
    container,
    `[ "$(cat ${EDGE_FILE} 2>/dev/null)" = ${connector} ] && exit 0
mkdir -p ${dirname(EDGE_FILE)} && printf '%s\\n' ${connector} > ${EDGE_FILE}
systemctl try-restart cloudflared.service 2>/dev/null || true`,
  );
  if (r.code !== 0)
    throw new Error(`${container}: could not point cloudflared at the lab edge: ${r.stderr.trim()}`);
}
