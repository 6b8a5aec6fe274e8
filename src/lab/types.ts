/** Contract shared with the core (see issue 3). */
export interface LabHostSpec {
  name: string;
  role: string;
}

export interface LabHost {
  name: string;
  role: string;
  /** `infra-lab-<lab id>-<name>` (constants.ts containerName) */
  container: string;
  /** Address on infra-lab-public: plays the VPS public IP. */
  publicAddress: string;
  /** Address on the lab's own infra-lab-tailnet-<slot>: plays the Tailscale IP. */
  tailnetAddress: string;
  port: 22;
  user: 'root';
  keyFile: string;
  /** systemctl is-system-running when the container runs, else the docker state or 'missing'. */
  state: string;
  /** When this host's container was made: a new one has none of what infra learned of the old. */
  createdAt?: string;
}

export interface LabState {
  /** 2: labs scoped to their state dir (1: one lab per machine, global container names). */
  version: 2;
  stateDir: string;
  /** This lab's tailnet network and address range: infra-lab-tailnet-<slot>, 100.77.<slot>.0/24. */
  slot: number;
  keyFile: string;
  knownHostsFile: string;
  hosts: LabHost[];
  upstream: {
    tailscaleApt: string;
    cloudflaredApt: string;
    registryMirror: string;
    /** The Cloudflare API stand-in of this lab (inventory `upstream.cloudflare_api`). */
    cloudflareApi?: string;
    /** Its edge (lab/cloudflare/edge.py): requests for public hostnames, `Host: app.sgl.as`. */
    cloudflareEdge?: string;
    /** This lab's restic REST server (`rclone serve restic`): `backups.offsite.repository`. */
    offsiteRestic?: string;
  };
}

export type LabProgress = (message: string) => void;
