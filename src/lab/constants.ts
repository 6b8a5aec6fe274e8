import { homedir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';

/** Every Docker object the lab creates carries this label; `labDown` removes exactly those. */
export const LABEL = 'infra.lab=1';
export const LABEL_KEY = 'infra.lab';

export const SUITE = 'trixie';
export const MIRROR = process.env.INFRA_LAB_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
export const HOST_IMAGE = `infra-lab/host:${SUITE}`;
export const SERVICES_IMAGE = `infra-lab/services:${SUITE}`;

export const PUBLIC_NET = { name: 'infra-lab-public', prefix: '10.77.0', subnet: '10.77.0.0/24' } as const;
/** Internal (no gateway): the tailnet never carries the default route, like a real tailnet. */
export const TAILNET_NET = {
  name: 'infra-lab-tailnet',
  prefix: '100.77.0',
  subnet: '100.77.0.0/24',
} as const;

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

export function containerName(host: string): string {
  return `infra-lab-${host}`;
}

export function hostAddresses(index: number): { publicAddress: string; tailnetAddress: string } {
  return {
    publicAddress: `${PUBLIC_NET.prefix}.${10 + index}`,
    tailnetAddress: `${TAILNET_NET.prefix}.${10 + index}`,
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
