import { containerName, LABEL, PUBLIC_NET, STATE_LABEL_KEY } from './constants.js';
import { dexec, docker, dockerTry, sleep } from './exec.js';
import { addressHolders } from './networks.js';

/** One per-lab service container on the shared public network (the Cloudflare API, the off-site server). */
export interface LabService {
  role: string;
  /** The highest address to take and the lowest to go down to, in the shared network's last octet. */
  top: number;
  floor: number;
  /** `docker run` arguments after the name, labels, network and address: mounts, entrypoint, image, command. */
  run: string[];
  /** A command run inside the container that succeeds once the service answers. */
  ready: string;
}

/**
 * Starts the lab's service container (or keeps it when running) and returns its address on the
 * shared public network: an address no other lab holds, counting down from `top`.
 */
export async function ensureLabService(stateDir: string, s: LabService): Promise<string> {
  const name = containerName(s.role, stateDir);
  const st = await dockerTry(['inspect', '-f', '{{.State.Status}}', name]);
  if (st.code === 0 && st.stdout.trim() === 'running')
    return (
      await dockerTry([
        'inspect',
        '-f',
        `{{(index .NetworkSettings.Networks "${PUBLIC_NET.name}").IPAddress}}`,
        name,
      ])
    ).stdout.trim();
  if (st.code === 0) await docker(['rm', '-f', name]);
  const holders = await addressHolders();
  let last = s.top;
  while (holders.has(`${PUBLIC_NET.prefix}.${last}`) && last > s.floor) last--;
  const address = `${PUBLIC_NET.prefix}.${last}`;
  await docker([
    'run',
    '-d',
    ...['--name', name, '--hostname', `lab-${s.role}`, '--label', LABEL],
    ...['--label', `${STATE_LABEL_KEY}=${stateDir}`, '--network', PUBLIC_NET.name, '--ip', address],
    ...s.run,
  ]);
  for (let i = 0; i < 50; i++) {
    if ((await dexec(name, s.ready)).code === 0) return address;
    await sleep(200);
  }
  const logs = await dockerTry(['logs', '--tail', '20', name]);
  throw new Error(`${name} did not come up: ${logs.stderr || logs.stdout}`);
}
