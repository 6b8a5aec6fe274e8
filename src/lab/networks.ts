import { LABEL, MAX_SLOT, PUBLIC_NET, STATE_LABEL_KEY, type TailnetNet, tailnetNet } from './constants.js';
import { docker, dockerTry } from './exec.js';

/** The shared public network, created once for every lab on the machine. */
export async function ensurePublicNet(): Promise<void> {
  if ((await dockerTry(['network', 'inspect', PUBLIC_NET.name])).code === 0) return;
  await docker(['network', 'create', '--label', LABEL, '--subnet', PUBLIC_NET.subnet, PUBLIC_NET.name]);
}

/** Tailnet network name -> the state dir that owns it, for every lab's tailnet on the machine. */
async function tailnetOwners(): Promise<Map<string, string>> {
  const ls = await dockerTry(['network', 'ls', '--filter', `label=${LABEL}`, '--format', '{{.Name}}']);
  const names = ls.stdout.split('\n').filter((n) => n.startsWith('infra-lab-tailnet'));
  const owners = new Map<string, string>();
  for (const name of names) {
    const fmt = `{{index .Labels "${STATE_LABEL_KEY}"}}`;
    const r = await dockerTry(['network', 'inspect', '-f', fmt, name]);
    owners.set(name, r.code === 0 ? r.stdout.trim().replace('<no value>', '') : '');
  }
  return owners;
}

/**
 * This lab's own tailnet: the slot it had if that network is still its own (or gone), else the
 * first slot no other lab holds. Slots start at 1: labs made before scoping share
 * `infra-lab-tailnet` on 100.77.0.0/24, and Docker refuses overlapping subnets. Returns the
 * network, created when missing.
 */
export async function ensureTailnet(stateDir: string, had: number | undefined): Promise<TailnetNet> {
  const owners = await tailnetOwners();
  const free = (slot: number) => {
    const owner = owners.get(tailnetNet(slot).name);
    return owner === undefined || owner === stateDir;
  };
  const order = [...(had ? [had] : []), ...Array.from({ length: MAX_SLOT }, (_, i) => i + 1)];
  let why = '';
  for (const slot of order) {
    if (!free(slot)) continue;
    const net = tailnetNet(slot);
    if (owners.has(net.name)) return net;
    const r = await dockerTry([
      ...['network', 'create', '--label', LABEL, '--label', `${STATE_LABEL_KEY}=${stateDir}`],
      ...['--subnet', net.subnet, '--internal', net.name],
    ]);
    if (r.code === 0) return net;
    why = r.stderr.trim(); // e.g. a subnet some other network holds: try the next slot
  }
  throw new Error(`no free lab tailnet slot (1-${MAX_SLOT})${why ? `: ${why}` : ''}`);
}

/** Address -> container name, for every running container on the public lab network (any lab's). */
export async function addressHolders(): Promise<Map<string, string>> {
  const fmt = '{{range .Containers}}{{.Name}} {{.IPv4Address}}\n{{end}}';
  const r = await dockerTry(['network', 'inspect', '--format', fmt, PUBLIC_NET.name]);
  const map = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const [name, cidr] = line.trim().split(' ');
    if (name && cidr) map.set(cidr.split('/')[0]!, name);
  }
  return map;
}

/** Removes this lab's tailnet network(s). */
export async function removeTailnets(stateDir: string): Promise<void> {
  for (const [name, owner] of await tailnetOwners())
    if (owner === stateDir) await dockerTry(['network', 'rm', name]);
}
