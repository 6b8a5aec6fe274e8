import { beforeAll, describe, expect, it } from 'vitest';
import { changesOf, labHost, labSecrets, outputs, run } from './bootstrap-helpers.js';
import { answers, ensureLab, onHost, resetInventory } from './harness.js';

/**
 * The role stacks on the lab: `bootstrap toucan` then `bootstrap hornbill` deliver the control
 * server (Loki + Grafana, GlitchTip with its PostgreSQL and Valkey, Dokploy) and Alloy on both.
 *
 * REAL here: the hosts (Debian 13, systemd, UFW, an inner Docker engine), compose, the pulls
 * through the registry mirror by the images' real names, GlitchTip's PostgreSQL 18 and Valkey
 * (Debian's valkey-server), the Docker swarm Dokploy gets, every port binding and firewall.
 * LAB STAND-INS (lab/images/stacks/standin.py, docs/stacks.md): Grafana, Loki, Alloy, GlitchTip,
 * Dokploy and Traefik — small servers that answer the health endpoints, read the rendered
 * configs and secret files, and, for Loki and Alloy, really carry container logs (Docker socket
 * -> JSON push -> query_range). These tests prove infra deploys and converges the stacks, not
 * that the products work.
 */
// Read once the lab is up (beforeAll): lab.json does not exist before.
let TOUCAN: ReturnType<typeof labHost>;
let HORNBILL: ReturnType<typeof labHost>;
const SECRETS =
  '/srv/infra/stacks/observability/grafana_admin_password /srv/infra/stacks/glitchtip/pg_password /srv/infra/stacks/glitchtip/secret_key /srv/infra/stacks/glitchtip/database_url /srv/infra/stacks/dokploy/dokploy_postgres_password /srv/infra/stacks/dokploy/dokploy_auth_secret /srv/infra/stacks/dokploy/dokploy_owner_password';
const sums = async () => (await onHost('toucan', `stat -c '%n %a' ${SECRETS}; sha256sum ${SECRETS}`)).stdout;

describe('role stacks on the lab (stand-ins for Grafana, Loki, Alloy, GlitchTip, Dokploy, Traefik)', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    TOUCAN = labHost('toucan');
    HORNBILL = labHost('hornbill');
    // No `lab reset` here: a fresh host's whole role, stacks included, is bootstrapped cold by
    // bootstrap.test.ts (toucan) and apps.test.ts (hornbill), which run before this file. These
    // tests take the hosts as the files before left them (converged, check 0) or fresh when this
    // file runs alone; what they assert holds either way. Two cold bootstraps less in CI.
  });

  it('bootstrap toucan, then hornbill: every stack running and healthy; second runs change nothing', async () => {
    for (const h of ['toucan', 'hornbill']) {
      const first = await run('bootstrap', h);
      expect(first.code, first.all).toBe(0);
    }
    // toucan learns the apps host it now reaches (its tailnet address and key) for the backup copies.
    expect((await run('apply', 'toucan')).code).toBe(0);
    const ps = (await onHost('toucan', "docker ps -a --format '{{.Names}} {{.Status}}'")).stdout;
    for (const c of [
      'observability-loki-1',
      'observability-grafana-1',
      'alloy-alloy-1',
      'glitchtip-web-1',
      'glitchtip-worker-1',
      'dokploy-traefik',
    ])
      expect(ps).toMatch(new RegExp(`^${c} Up`, 'm'));
    expect(ps).toMatch(/^glitchtip-postgres-1 Up .*\(healthy\)/m);
    expect(ps).toMatch(/^glitchtip-valkey-1 Up .*\(healthy\)/m);
    expect(ps).toMatch(/^glitchtip-migrate-1 Exited \(0\)/m);
    expect((await onHost('hornbill', "docker ps --format '{{.Names}}'")).stdout).toContain('alloy-alloy-1');
    // Dokploy as its installer makes it: two swarm services, one task each running.
    const svc = (await onHost('toucan', "docker service ls --format '{{.Name}} {{.Replicas}}'")).stdout;
    expect(svc.split('\n').sort()).toEqual(['dokploy 1/1', 'dokploy-postgres 1/1']);

    const before = await sums();
    for (const h of ['toucan', 'hornbill']) {
      const again = await changesOf('bootstrap', h);
      expect(again.code, again.stdout).toBe(0);
      expect(again.changes, again.stdout).toBe(0);
    }
    expect(await sums()).toBe(before);
    expect(before.match(/ 600$/gm)).toHaveLength(7);
    const check = await run('check');
    expect(check.code, check.all).toBe(0);
  });

  it('real PostgreSQL and Valkey under GlitchTip: the generated URL authenticates, Valkey answers', async () => {
    const r = await onHost(
      'toucan',
      `url=$(cat /srv/infra/stacks/glitchtip/database_url); pw=$(cat /srv/infra/stacks/glitchtip/pg_password)
case "$url" in "postgres://glitchtip:$pw@postgres:5432/glitchtip") ;; *) echo URL-MISMATCH; exit 1;; esac
docker exec -e PGPASSWORD="$pw" glitchtip-postgres-1 psql -h 127.0.0.1 -U glitchtip -d glitchtip -tAc 'select 1'
docker exec glitchtip-valkey-1 valkey-cli ping
docker exec glitchtip-web-1 printenv GLITCHTIP_DOMAIN`,
    );
    expect(r.stdout.split('\n')).toEqual(['1', 'PONG', 'https://glitchtip.sgl.as']);
  });

  it('Grafana: admin/admin is refused, the generated password works and is shown only when asked', async () => {
    const shown = await run('secrets', 'show', 'toucan', 'observability');
    expect(shown.code, shown.all).toBe(0);
    const pw = /^grafana_admin_password=(\S{48})$/m.exec(shown.stdout)?.[1];
    expect(pw).toBeDefined();
    const url = `http://${TOUCAN.tailnetAddress}:3001/api/datasources`;
    const r = await onHost(
      'toucan',
      `curl -s -o /dev/null -w '%{http_code}\\n' -u admin:admin ${url}; curl -s -u 'admin:${pw}' ${url}`,
    );
    expect(r.stdout.split('\n')[0]).toBe('401');
    expect(JSON.parse(r.stdout.split('\n')[1]!)).toEqual([
      { name: 'Loki', type: 'loki', url: 'http://loki:3100' },
    ]);
    // Not in any other run's output: apply and check never print generated secrets.
    expect(outputs.filter((o) => o !== shown.all).some((o) => o.includes(pw!))).toBe(false);
    for (const s of labSecrets()) expect(outputs.some((o) => o.includes(s))).toBe(false);
  });

  it('no stack port answers on a public lab address; Loki answers hornbill over the tailnet only', async () => {
    for (const [h, ports] of [
      [TOUCAN, [80, 443, 3000, 3001, 3100, 8000, 12345, 2377]],
      [HORNBILL, [3100, 12345]],
    ] as const)
      for (const p of ports) expect(await answers(h.publicAddress, p), `${h.name}:${p}`).toBe(false);
    const r = await onHost(
      'hornbill',
      `curl -s -m 3 http://${TOUCAN.tailnetAddress}:3100/ready; echo; curl -s -m 3 -o /dev/null -w '%{http_code}' http://${TOUCAN.publicAddress}:3100/ready`,
    );
    expect(r.stdout.split('\n')).toEqual(['ready', '000']);
  });

  it("Alloy on hornbill ships to toucan's tailnet address: a container's log line arrives in Loki", async () => {
    const cfg = await onHost('hornbill', 'docker exec alloy-alloy-1 cat /etc/alloy/config.alloy');
    expect(cfg.stdout).toContain(`url = "http://${TOUCAN.tailnetAddress}:3100/loki/api/v1/push"`);
    const marker = `infra-e2e-${Date.now()}`;
    await onHost(
      'hornbill',
      `docker rm -f infra-e2e-logger >/dev/null 2>&1; docker run -d --name infra-e2e-logger --label com.docker.compose.project=e2e --entrypoint sh grafana/alloy:v1.10.2 -c 'echo ${marker}; sleep 300' >/dev/null`,
    );
    // Stand-in Loki: query_range with equality matchers and one |= filter (docs/stacks.md).
    const query = `{container="infra-e2e-logger",host="hornbill",compose_project="e2e"} |= "${marker}"`;
    const q = await onHost(
      'toucan',
      `for i in $(seq 60); do out=$(curl -s -G http://${TOUCAN.tailnetAddress}:3100/loki/api/v1/query_range --data-urlencode 'query=${query}'); case "$out" in *'${marker}'*) echo "$out"; exit 0;; esac; sleep 1; done; exit 1`,
    );
    await onHost('hornbill', 'docker rm -f infra-e2e-logger >/dev/null 2>&1');
    expect(q.code, q.all).toBe(0);
  });

  it('drift — a removed container, an edited compose file, a changed image tag — is named and restored', async () => {
    await onHost('toucan', 'docker rm -f glitchtip-worker-1 >/dev/null');
    await onHost(
      'toucan',
      'sed -i \'s/GF_USERS_ALLOW_SIGN_UP: "false"/GF_USERS_ALLOW_SIGN_UP: "true"/\' /srv/infra/stacks/observability/compose.yaml',
    );
    await onHost(
      'hornbill',
      "cd /srv/infra/stacks/alloy && docker tag grafana/alloy:v1.10.2 grafana/alloy:v1.9.0 && sed -i 's|grafana/alloy:v1.10.2|grafana/alloy:v1.9.0|' compose.yaml && docker compose -p alloy -f compose.yaml up -d >/dev/null 2>&1",
    );
    const drift = await run('check');
    expect(drift.code, drift.all).toBe(2);
    expect(drift.all).toContain('create stack glitchtip service worker (no container)');
    expect(drift.all).toContain('update /srv/infra/stacks/observability/compose.yaml');
    expect(drift.all).toMatch(
      /stack alloy service alloy with grafana\/alloy:v1\.10\.2 \(runs grafana\/alloy:v1\.9\.0\)/,
    );

    const fix = await run('apply');
    expect(fix.code, fix.all).toBe(0);
    const clean = await run('check');
    expect(clean.code, clean.all).toBe(0);
    expect((await onHost('hornbill', "docker inspect -f '{{.Config.Image}}' alloy-alloy-1")).stdout).toBe(
      'grafana/alloy:v1.10.2',
    );
  });
});
