import { describe, expect, it } from 'vitest';
import { formatProblem, parseInventoryText } from '../../../src/inventory/parse.js';
import { METABASE_PORT } from '../../../src/tasks/metabase.js';

const inventory = (routes: string, metabase: string) => `tailscale:
  auth_key: env:TS_AUTHKEY
firewall:
  allow:
    - interface: tailscale0
hosts:
  toucan:
    role: control
    address: 127.0.0.1
    tunnel:
      token: env:CF_TUNNEL_TOKEN
      routes:
${routes}
apps: {}
analytics:
  mode: nightly
${metabase}`;

const problems = (text: string) => {
  const r = parseInventoryText(text);
  return r.ok ? [] : r.problems.map((p) => formatProblem('inventory.yaml', p));
};

describe('a tunnel route to Metabase', () => {
  const route = `        - hostname: metabase.sgl.as\n          service: http://localhost:${METABASE_PORT}\n`;

  it('needs analytics.metabase.admin_email: infra makes that admin before the route goes live', () => {
    const p = problems(inventory(route, ''));
    expect(
      p.some((l) =>
        /analytics\.metabase: admin_email is missing: toucan routes its tunnel to Metabase \(port 3030\)/.test(
          l,
        ),
      ),
      p.join('\n'),
    ).toBe(true);
    expect(
      problems(inventory(route, '  metabase:\n    admin_email: ops@sgl.as\n')).filter((l) =>
        l.includes('metabase'),
      ),
    ).toEqual([]);
  });

  it('another port on the host is not Metabase', () => {
    const other = '        - hostname: dokploy.sgl.as\n          service: http://localhost:3000\n';
    expect(problems(inventory(other, '')).filter((l) => l.includes('metabase'))).toEqual([]);
  });
});
