import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { containerName, LABEL, PUBLIC_NET, SERVICES_IMAGE, STATE_LABEL_KEY } from './constants.js';
import { dexec, docker, dockerTry, sleep } from './exec.js';
import { addressHolders } from './networks.js';

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
  const name = containerName('cloudflare', stateDir);
  const ip = async () =>
    (
      await dockerTry([
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${PUBLIC_NET.name}").IPAddress}}`,
        name,
      ])
    ).stdout.trim();
  const st = await dockerTry(['inspect', '-f', '{{.State.Status}}', name]);
  if (st.code === 0 && st.stdout.trim() === 'running') return url(await ip());
  if (st.code === 0) await docker(['rm', '-f', name]);
  const dir = cfApiDir(stateDir);
  mkdirSync(dir, { recursive: true });
  // High addresses of the shared network: the hosts take theirs from .10 upwards.
  const holders = await addressHolders();
  let last = 250;
  while (holders.has(`${PUBLIC_NET.prefix}.${last}`) && last > 200) last--;
  const address = `${PUBLIC_NET.prefix}.${last}`;
  await docker([
    'run',
    '-d',
    ...[
      '--name',
      name,
      '--hostname',
      'lab-cloudflare',
      '--label',
      LABEL,
      '--label',
      `${STATE_LABEL_KEY}=${stateDir}`,
    ],
    ...['--network', PUBLIC_NET.name, '--ip', address],
    ...['-v', `${join(PACKAGE_ROOT, 'lab', 'cloudflare')}:/opt/cfapi:ro`, '-v', `${dir}:/var/lib/cfapi`],
    ...[
      '--entrypoint',
      'python3',
      SERVICES_IMAGE,
      '/opt/cfapi/cfapi.py',
      '/var/lib/cfapi',
      String(CF_API_PORT),
    ],
  ]);
  const probe = `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${CF_API_PORT}/lab/calls', timeout=2).read()"`;
  for (let i = 0; i < 50; i++) {
    if ((await dexec(name, probe)).code === 0) return url(address);
    await sleep(200);
  }
  const logs = await dockerTry(['logs', '--tail', '20', name]);
  throw new Error(`${name} did not come up: ${logs.stderr || logs.stdout}`);
}

const url = (address: string) => `http://${address}:${CF_API_PORT}/client/v4`;
