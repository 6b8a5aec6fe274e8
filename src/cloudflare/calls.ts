import type { IngressRule } from './state.js';

/** The API writes infra makes; each names the resource it concerns, for its error message. */
export type ApiCall =
  | { kind: 'tunnel-create'; name: string }
  | { kind: 'config-put'; tunnel: string; tunnelId: string; ingress: IngressRule[] }
  | { kind: 'dns-create'; zoneId: string; name: string; content: string; comment: string }
  | { kind: 'dns-update'; zoneId: string; id: string; name: string; content: string; comment: string }
  | { kind: 'policy-create'; name: string; body: PolicyBody }
  | { kind: 'policy-update'; id: string; name: string; body: PolicyBody }
  | { kind: 'app-create'; domain: string; body: AppBody }
  | { kind: 'app-update'; id: string; domain: string; body: AppBody }
  | { kind: 'app-delete'; id: string; domain: string };

export interface PolicyBody {
  name: string;
  decision: 'allow';
  include: unknown[];
  session_duration: string;
}

/** `policies` names policies by their inventory name; the client resolves them to IDs. */
export interface AppBody {
  name: string;
  domain: string;
  type: 'self_hosted';
  session_duration: string;
  allowed_idps: string[];
  policyNames: string[];
}

/** "PUT configurations of tunnel toucan": how an error message names the call. */
export function describeCall(c: ApiCall): string {
  switch (c.kind) {
    case 'tunnel-create':
      return `create tunnel ${c.name}`;
    case 'config-put':
      return `put the configuration of tunnel ${c.tunnel}`;
    case 'dns-create':
      return `create DNS record ${c.name}`;
    case 'dns-update':
      return `update DNS record ${c.name}`;
    case 'policy-create':
      return `create Access policy ${c.name}`;
    case 'policy-update':
      return `update Access policy ${c.name}`;
    case 'app-create':
      return `create Access application ${c.domain}`;
    case 'app-update':
      return `update Access application ${c.domain}`;
    case 'app-delete':
      return `delete Access application ${c.domain}`;
  }
}
