/** Contract shared with the core (see issue 3). */
export interface LabHostSpec {
  name: string;
  role: string;
}

export interface LabHost {
  name: string;
  role: string;
  /** `infra-lab-${name}` */
  container: string;
  /** Address on infra-lab-public: plays the VPS public IP. */
  publicAddress: string;
  /** Address on infra-lab-tailnet: plays the Tailscale IP. */
  tailnetAddress: string;
  port: 22;
  user: 'root';
  keyFile: string;
  /** systemctl is-system-running when the container runs, else the docker state or 'missing'. */
  state: string;
}

export interface LabState {
  version: 1;
  stateDir: string;
  keyFile: string;
  knownHostsFile: string;
  hosts: LabHost[];
  upstream: {
    tailscaleApt: string;
    cloudflaredApt: string;
    registryMirror: string;
  };
}

export type LabProgress = (message: string) => void;
