import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

/** Every Docker object the lab creates carries this label; `labDown` removes exactly those. */
export const LABEL = 'infra.lab=1';
export const LABEL_KEY = 'infra.lab';

export const SUITE = 'trixie';
export const MIRROR = process.env.INFRA_LAB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
export const HOST_IMAGE = `infra-lab/host:${SUITE}`;
export const SERVICES_IMAGE = `infra-lab/services:${SUITE}`;

/** Every lab's hosts carry the state dir that made them; `labDown` of one lab removes only its own. */
export const STATE_LABEL_KEY = 'infra.lab.state';

/**
 * Shared by every lab on the machine: it plays the internet (VPS public addresses, the stand-in
 * upstreams), so hosts of two labs reach each other there as two VPSes would.
 */
export const PUBLIC_NET = { name: 'infra-lab-public', prefix: '10.77.0', subnet: '10.77.0.0/24' } as const;

export interface TailnetNet {
  name: string;
  prefix: string;
  subnet: string;
}
/**
 * One per lab, as a tailnet is one per account: labs never see each other's tailnet. Internal
 * (no gateway): the tailnet never carries the default route, like a real tailnet.
 */
export function tailnetNet(slot: number): TailnetNet {
  return { name: `infra-lab-tailnet-${slot}`, prefix: `100.77.${slot}`, subnet: `100.77.${slot}.0/24` };
}
export const MAX_SLOT = 250;

export const SERVICES_CONTAINER = 'infra-lab-services';
export const SERVICES_ADDRESS = `${PUBLIC_NET.prefix}.2`;
export const APT_PORT = 8099;
export const REGISTRY_PORT = 5000;
/** The registry is also published on loopback so this machine can push without touching its daemon config. */
export const REGISTRY_LOCAL_PORT = Number(process.env.INFRA_LAB_REGISTRY_PORT ?? 5077);
export const REGISTRY_VOLUME = 'infra-lab-registry';

export const UPSTREAM = {
  tailscaleApt: `http://${SERVICES_ADDRESS}:${APT_PORT}/tailscale/stable`,
  cloudflaredApt: `http://${SERVICES_ADDRESS}:${APT_PORT}/cloudflare`,
  registryMirror: `http://${SERVICES_ADDRESS}:${REGISTRY_PORT}`,
} as const;

/** The parked tailnet interface; the stand-in `tailscale up` renames it to tailscale0. */
export const PARKED_IF = 'tsparked0';

/** A short, stable name for a state dir, so two labs' containers never share a name. */
export function labId(stateDir: string): string {
  return createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 6);
}

export function containerName(host: string, stateDir: string): string {
  return `infra-lab-${labId(stateDir)}-${host}`;
}

/** Public addresses are global (first free on the shared network); the tailnet one keeps its last octet. */
export function hostAddresses(
  index: number,
  tailnet: TailnetNet,
): { publicAddress: string; tailnetAddress: string } {
  return {
    publicAddress: `${PUBLIC_NET.prefix}.${10 + index}`,
    tailnetAddress: `${tailnet.prefix}.${10 + index}`,
  };
}

/** Where built images' inputs (gpg key, apt repository, rootfs logs) are cached across labs. */
export function cacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return process.env.INFRA_LAB_CACHE ?? join(xdg, 'infra', 'lab');
}

/** The repository's `lab/` directory (image build scripts, stand-in sources). */
export function labAssetsDir(): string {
  return join(PACKAGE_ROOT, 'lab');
}
