import type { Locate, Path, Problem } from './parse.js';
import type { InventoryDoc } from './schema.js';

/** The zone a hostname belongs to: the longest listed zone it equals or ends in. */
export function zoneOf(hostname: string, zones: readonly string[]): string | undefined {
  const h = hostname.toLowerCase();
  return [...zones].sort((a, b) => b.length - a.length).find((z) => h === z || h.endsWith(`.${z}`));
}

/**
 * Rules of the tunnel keys that span sections (README, "Cloudflare"): which kind of tunnel a
 * host has is explicit, a remotely managed one needs the `cloudflare` section, every route's
 * hostname lies in a listed zone, and an access name exists.
 */
export function tunnelProblems(doc: InventoryDoc, locate: Locate): Problem[] {
  const problems: Problem[] = [];
  const at = (path: Path, message: string): void => {
    problems.push({ ...locate(path), path: path.join('.'), message });
  };
  const cf = doc.cloudflare;
  const seenHost = new Map<string, string>();
  const seenName = new Map<string, string>();
  for (const [name, h] of Object.entries(doc.hosts)) {
    const t = h.tunnel;
    if (!t) continue;
    const base = ['hosts', name, 'tunnel'];
    if (t.name && t.credentials)
      at(
        [...base, 'credentials'],
        'a tunnel is either remotely managed (name) or locally managed (credentials + id), not both',
      );
    else if (t.credentials && !t.id)
      at([...base, 'id'], 'required key is missing: a locally managed tunnel (credentials) needs its id');
    else if (t.id && !t.credentials)
      at(
        [...base, 'credentials'],
        'required key is missing: tunnel.id names a locally managed tunnel, whose credentials file this secret holds',
      );
    else if (!t.name && !t.token && !t.credentials)
      at(
        base,
        'expected name (a tunnel infra manages through the Cloudflare API), token, or credentials + id',
      );
    if (t.credentials && t.token)
      at([...base, 'token'], 'a locally managed tunnel (credentials) runs without a token');
    if (t.name) {
      if (!cf)
        at(
          [...base, 'name'],
          'a tunnel managed through the API needs the cloudflare section (api_token, account_id, zones)',
        );
      const other = seenName.get(t.name);
      if (other)
        at(
          [...base, 'name'],
          `tunnel ${t.name} is already the tunnel of ${other}: one cloudflared per tunnel here`,
        );
      seenName.set(t.name, name);
    }
    for (const [i, r] of t.routes.entries()) {
      const rp = [...base, 'routes', i];
      const key = r.hostname.toLowerCase();
      const dup = seenHost.get(key);
      if (dup) at([...rp, 'hostname'], `${r.hostname} is already routed by ${dup}`);
      seenHost.set(key, name);
      if (t.name && cf && !zoneOf(r.hostname, cf.zones))
        at([...rp, 'hostname'], `${r.hostname} is in none of cloudflare.zones (${cf.zones.join(', ')})`);
      if (r.access && !cf) at([...rp, 'access'], 'an access policy needs the cloudflare section');
      else if (r.access && cf && !cf.access[r.access]) {
        const known = Object.keys(cf.access).join(', ') || 'none defined';
        at([...rp, 'access'], `no access policy named ${r.access} under cloudflare.access (${known})`);
      }
      if (r.access && cf && !t.name && !zoneOf(r.hostname, cf.zones))
        at([...rp, 'hostname'], `${r.hostname} is in none of cloudflare.zones (${cf.zones.join(', ')})`);
    }
  }
  return problems;
}
