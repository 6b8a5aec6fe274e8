import { zoneOf } from '../inventory/tunnel-check.js';
import type { DesiredTunnel, PlanItem } from './plan.js';
import { type CfDnsRecord, type CfState, DNS_COMMENT, isOurDnsComment, tunnelTarget } from './state.js';

/** A route hostname's DNS record (a proxied CNAME to the tunnel), planned for planTunnel (plan.ts). */

const describeRecord = (r: CfDnsRecord) => `${r.type} ${r.content}${r.proxied ? ' (proxied)' : ''}`;

export function planDns(want: DesiredTunnel, hostname: string, tunnelId: string, state: CfState): PlanItem {
  const id = `cloudflare:dns:${hostname}`;
  const zone = zoneOf(hostname, want.zones)!;
  const zoneId = state.zones[zone];
  if (!zoneId)
    return {
      id,
      changes: [],
      calls: [],
      error: `zone ${zone} is not in the account (or the API token cannot read it: Zone › Zone: Read)`,
    };
  const target = tunnelTarget(tunnelId);
  const records = state.dns.filter(
    (r) => r.zoneId === zoneId && r.name.toLowerCase() === hostname.toLowerCase(),
  );
  const ours = records.filter((r) => r.type === 'CNAME' && isOurDnsComment(r.comment));
  const foreign = records.filter((r) => !ours.includes(r));
  const comment = DNS_COMMENT(want.name);
  if (foreign.length) {
    const f = foreign[0]!;
    // Made by hand and already right: in sync, and still not ours to change.
    if (!ours.length && foreign.length === 1 && f.type === 'CNAME' && f.content === target && f.proxied)
      return { id, changes: [], calls: [] };
    return {
      id,
      changes: [],
      calls: [],
      error: `${hostname} already has a DNS record infra did not create (${describeRecord(f)}, id ${f.id}): infra leaves it as it is; delete it or point it at ${target} (proxied) in the dashboard`,
    };
  }
  const mine = ours[0];
  if (!mine)
    return {
      id,
      changes: [
        {
          summary: `create DNS record ${hostname} CNAME ${target} (proxied)`,
          kind: 'dns-missing',
          expected: target,
        },
      ],
      calls: [{ kind: 'dns-create', zoneId, name: hostname, content: target, comment }],
    };
  if (mine.content === target && mine.proxied) return { id, changes: [], calls: [] };
  return {
    id,
    changes: [
      {
        summary: `DNS record ${hostname} points at ${describeRecord(mine)}, want ${target} (proxied)`,
        kind: 'dns-differs',
        expected: target,
        actual: mine.content,
      },
    ],
    calls: [{ kind: 'dns-update', zoneId, id: mine.id, name: hostname, content: target, comment }],
  };
}
