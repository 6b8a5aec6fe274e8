import type { FirewallRule } from '../inventory/schema.js';

/** One UFW rule as its `### tuple ###` line in user.rules / user6.rules describes it. */
export interface UfwRule {
  /** allow | deny | reject | limit, or route:allow … for routed rules. */
  action: string;
  proto: string;
  dport: string;
  dst: string;
  sport: string;
  src: string;
  /** Application profiles (OpenSSH …), "-" when none. */
  dapp: string;
  sapp: string;
  /** in | out, with _IFACE when bound to an interface: in_tailscale0. */
  direction: string;
}

const ANY_ADDRESS = new Set(['0.0.0.0/0', '::/0', 'any']);
const addr = (a: string) => (ANY_ADDRESS.has(a) ? 'any' : a);

/**
 * Pure: the rules of user.rules + user6.rules. Format (ufw backend_iptables.py):
 * `action proto dport dst sport src [dapp sapp] direction [comment=HEX]`. A rule UFW mirrors
 * into both files (any address) comes out once.
 */
export function parseTuples(...files: string[]): UfwRule[] {
  const out = new Map<string, UfwRule>();
  for (const text of files)
    for (const line of text.split('\n')) {
      const m = /^### tuple ### (.+)$/.exec(line.trim());
      if (!m) continue;
      const f = m[1]!.split(/\s+/).filter((w) => !w.startsWith('comment='));
      if (f.length !== 7 && f.length !== 9) continue;
      const [action, proto, dport, dst, sport, src] = f as [string, string, string, string, string, string];
      const [dapp, sapp] = f.length === 9 ? [f[6]!, f[7]!] : ['-', '-'];
      const rule = { action, proto, dport, dst, sport, src, dapp, sapp, direction: f[f.length - 1]! };
      out.set(ruleKey(rule), rule);
    }
  return [...out.values()];
}

/** Pure: what makes two rules the same rule, whichever file (v4 or v6) they came from. */
export function ruleKey(r: UfwRule): string {
  return [r.action, r.proto, r.dport, addr(r.dst), r.sport, addr(r.src), r.dapp, r.sapp, r.direction].join(
    ' ',
  );
}

/** The inventory's `{port, proto, interface}` as the tuple UFW writes for it. */
export function ruleOf(r: FirewallRule): UfwRule {
  return {
    action: 'allow',
    proto: r.proto ?? 'any',
    dport: r.port === undefined ? 'any' : String(r.port),
    dst: 'any',
    sport: 'any',
    src: 'any',
    dapp: '-',
    sapp: '-',
    direction: r.interface ? `in_${r.interface}` : 'in',
  };
}

/**
 * The rule in ufw's extended syntax, without the leading `ufw`: the same words add it and, after
 * `delete`, remove it. `ufw allow 8080/tcp` and `ufw allow in proto tcp from any to any port
 * 8080` make the same tuple, so any rule found on a host can be removed by its tuple alone.
 */
export function ruleArgs(r: UfwRule): string[] {
  const route = r.action.startsWith('route:');
  const action = r.action.replace(/^route:/, '');
  const [dir = 'in', iface] = r.direction.split('_', 2);
  const apps = r.dapp !== '-' || r.sapp !== '-';
  return [
    ...(route ? ['route'] : []),
    action,
    dir,
    ...(iface ? ['on', iface] : []),
    ...(!apps && r.proto !== 'any' ? ['proto', r.proto] : []),
    'from',
    addr(r.src),
    ...(r.sapp !== '-' ? ['app', r.sapp] : r.sport !== 'any' ? ['port', r.sport] : []),
    'to',
    addr(r.dst),
    ...(r.dapp !== '-' ? ['app', r.dapp] : r.dport !== 'any' ? ['port', r.dport] : []),
  ];
}

/** Short human form: "allow 443/tcp", "allow in on tailscale0", "deny 22/tcp from 10.0.0.0/8". */
export function describeRule(r: UfwRule): string {
  const [dir = 'in', iface] = r.direction.split('_', 2);
  const port =
    r.dapp !== '-'
      ? r.dapp
      : r.dport === 'any'
        ? r.proto === 'any'
          ? ''
          : r.proto
        : `${r.dport}${r.proto === 'any' ? '' : `/${r.proto}`}`;
  return [
    r.action,
    iface ? `${dir} on ${iface}` : dir === 'out' ? 'out' : '',
    port,
    addr(r.src) !== 'any' ? `from ${r.src}` : '',
    addr(r.dst) !== 'any' ? `to ${r.dst}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}
