import { beforeAll, describe, expect, it } from 'vitest';
import { changesOf, labHost, run } from './bootstrap-helpers.js';
import { ensureLab, onHost } from './harness.js';

/**
 * Dokploy on toucan as its installer makes it, held to Dokploy's contracts by the lab's stand-in
 * (lab/images/stacks/standin_dokploy.py, docs/lab.md): it resolves its database URL as
 * constants.ts does and REALLY authenticates to the real PostgreSQL 16, refuses the default auth
 * secret, writes its own traefik.yml only when none exists, and serves better-auth's sign-up/in.
 * Reuses the lab stacks.test.ts bootstrapped (bootstraps toucan itself when run alone).
 */
let TOUCAN: ReturnType<typeof labHost>;
const DIR = '/srv/infra/stacks/dokploy';

/** A request to Dokploy from toucan's loopback (where cloudflared reaches it). */
const api = (path: string, body: string) =>
  onHost(
    'toucan',
    `curl -s -m 10 -c /tmp/dk-cookies -b /tmp/dk-cookies -w '\\n%{http_code}' -H 'content-type: application/json' --data-binary @- http://127.0.0.1:3000${path} <<'EOF'\n${body}\nEOF`,
  );
const ownerBody = (pw: string) => JSON.stringify({ email: 'ops@sgl.as', password: pw, name: 'x' });
const code = (r: { stdout: string }) => r.stdout.split('\n').at(-1);

/** Waits until the dokploy service has a failed task whose error or logs match `re`. */
async function crashLoops(re: RegExp): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const r = await onHost(
      'toucan',
      "docker service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' dokploy | head -n 3; docker service logs --raw --tail 30 dokploy 2>&1",
    );
    if (/non-zero exit \(1\)/.test(r.stdout) && re.test(r.stdout)) return r.stdout;
    await new Promise((ok) => setTimeout(ok, 2000));
  }
  throw new Error(`dokploy did not crash-loop matching ${re}`);
}

describe('Dokploy as its installer makes it (stand-in held to the upstream contracts)', () => {
  let ownerPw = '';
  beforeAll(async () => {
    await ensureLab();
    TOUCAN = labHost('toucan');
    const b = await run('bootstrap', 'toucan');
    if (b.code !== 0) throw new Error(`bootstrap toucan:\n${b.all}`);
    const shown = await run('secrets', 'show', 'toucan', 'dokploy');
    ownerPw = /^dokploy_owner_password=(\S{48})$/m.exec(shown.stdout)?.[1] ?? '';
    expect(ownerPw).toHaveLength(48);
  });

  it('services, secrets and network as the installer makes them; Dokploy wrote its own traefik.yml', async () => {
    const r = await onHost(
      'toucan',
      `docker service inspect -f '{{json .Spec.TaskTemplate.ContainerSpec.Env}} {{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}:{{.File.Name}} {{end}}' dokploy
docker network inspect -f '{{.Driver}} {{.Attachable}} {{.Scope}}' dokploy-network
docker secret ls --format '{{.Name}}' | sort | tr '\\n' ' '; echo
cat /etc/dokploy/traefik/traefik.yml`,
    );
    const [env, net, secrets, ...yml] = r.stdout.split('\n');
    expect(env).toContain('"POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password"');
    expect(env).toContain('"BETTER_AUTH_SECRET_FILE=/run/secrets/dokploy_auth_secret"');
    expect(env).toContain('dokploy_postgres_password:/run/secrets/postgres_password');
    expect(env).toContain('dokploy_auth_secret:/run/secrets/dokploy_auth_secret');
    expect(net).toBe('overlay true swarm');
    expect(secrets!.trim()).toBe('dokploy_auth_secret dokploy_postgres_password');
    // Dokploy's own default (traefik-setup.ts), not a seed of infra's.
    const text = yml.join('\n');
    expect(text).toContain('swarm:');
    expect(text).toContain('network: dokploy-network');
    expect(text).toContain('certResolver: letsencrypt');
  });

  it('the owner exists before anything is published: its login works, a second sign-up is refused', async () => {
    const ok = await api('/api/auth/sign-in/email', ownerBody(ownerPw));
    expect(code(ok), ok.all).toBe('200');
    expect(code(await api('/api/auth/sign-in/email', ownerBody('wrong-password-1234')))).toBe('401');
    const second = await api('/api/auth/sign-up/email', ownerBody('someone-else-1234'));
    expect(code(second)).toBe('400');
    expect(second.stdout).toContain('Admin is already created');
    // Port 3000 is published in swarm host mode (no host IP): the DOCKER-USER rules close it to
    // a neighbour on the public network (a private range here, as a provider's LAN can be);
    // loopback, where cloudflared connects, answers.
    const health = (addr: string) =>
      `curl -s -m 3 -o /dev/null -w '%{http_code}' http://${addr}:3000/api/trpc/settings.health`;
    expect((await onHost('hornbill', health(TOUCAN.publicAddress))).stdout).toBe('000');
    expect((await onHost('toucan', health('127.0.0.1'))).stdout).toBe('200');
  });

  it("a Traefik change through Dokploy's own API is not drift and survives apply", async () => {
    expect(code(await api('/api/auth/sign-in/email', ownerBody(ownerPw)))).toBe('200');
    const before = (await onHost('toucan', 'cat /etc/dokploy/traefik/traefik.yml')).stdout;
    const edited = `${before}\n# changed in Dokploy's UI ${Date.now()}\n`;
    const r = await api(
      '/api/trpc/settings.updateTraefikConfig',
      JSON.stringify({ json: { traefikConfig: edited } }),
    );
    expect(code(r), r.all).toBe('200');
    const check = await run('check', 'toucan');
    expect(check.code, check.all).toBe(0);
    const again = await changesOf('apply', 'toucan');
    expect(again.changes, again.stdout).toBe(0);
    expect((await onHost('toucan', 'cat /etc/dokploy/traefik/traefik.yml')).stdout).toBe(edited.trimEnd());
  });

  it('POSTGRES_PASSWORD_FILE removed: the legacy password crash-loops Dokploy, check names it, apply restores', async () => {
    await onHost(
      'toucan',
      'docker service update --detach --env-rm POSTGRES_PASSWORD_FILE dokploy >/dev/null',
    );
    expect(await crashLoops(/password authentication failed for user "dokploy"/)).toContain(
      'DEPRECATED DATABASE CONFIG',
    );
    const drift = await run('check', 'toucan');
    expect(drift.code, drift.all).toBe(2);
    expect(drift.all).toContain(
      'update swarm service dokploy: env POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password missing',
    );
    const fix = await run('apply', 'toucan');
    expect(fix.code, fix.all).toBe(0);
    expect((await run('check', 'toucan')).code).toBe(0);
  });

  it('BETTER_AUTH_SECRET_FILE removed: the stand-in refuses the public default secret', async () => {
    await onHost(
      'toucan',
      'docker service update --detach --env-rm BETTER_AUTH_SECRET_FILE dokploy >/dev/null',
    );
    await crashLoops(/DEPRECATED AUTH CONFIG/);
    const drift = await run('check', 'toucan');
    expect(drift.code, drift.all).toBe(2);
    expect(drift.all).toContain('env BETTER_AUTH_SECRET_FILE=/run/secrets/dokploy_auth_secret missing');
    expect((await run('apply', 'toucan')).code).toBe(0);
  });

  it('a wrong database password makes bootstrap fail naming the stack; the right one converges', async () => {
    const pg = '$(docker ps -q -f label=com.docker.swarm.service.name=dokploy-postgres | head -n1)';
    const alter = (pw: string) =>
      onHost(
        'toucan',
        `docker exec ${pg} psql -U dokploy -d dokploy -qc "ALTER USER dokploy PASSWORD '${pw}'"`,
      );
    expect((await alter('not-the-secret')).code).toBe(0);
    await onHost('toucan', 'docker service update --detach --force dokploy >/dev/null');
    await crashLoops(/password authentication failed/);
    const failed = await run('bootstrap', 'toucan');
    expect(failed.code, failed.all).not.toBe(0);
    expect(failed.all).toMatch(/failed +stack:dokploy/); // the report keeps the step's last stderr lines
    expect(failed.all).toContain('password authentication failed for user "dokploy"');
    const pw = (await onHost('toucan', `cat ${DIR}/dokploy_postgres_password`)).stdout.trim();
    expect((await alter(pw)).code).toBe(0);
    const fixed = await run('bootstrap', 'toucan');
    expect(fixed.code, fixed.all).toBe(0);
    const again = await changesOf('bootstrap', 'toucan');
    expect(again.changes, again.stdout).toBe(0);
  });
});

/**
 * The apps hosts wired into Dokploy (docs/stacks.md, "Apps hosts in Dokploy"): `bootstrap
 * hornbill` after toucan is enough — its run ends on toucan, registering hornbill through
 * Dokploy's API with infra's key; the stand-in's server.validate REALLY logs in over SSH with
 * Dokploy's key (standin_dokploy_api.py), so a wrong user or an unauthorised key fails.
 */
describe('apps hosts in Dokploy: deploy user, SSH key, server registration', () => {
  let key = '';
  let HORNBILL: ReturnType<typeof labHost>;
  /** Dokploy's REST API from toucan's loopback with an API key (x-api-key, as infra calls it). */
  const rest = (path: string, body?: object, apiKey = key) =>
    onHost(
      'toucan',
      `curl -s -m 30 -w '\\n%{http_code}' ${apiKey ? `-H 'x-api-key: ${apiKey}'` : ''} ${
        body ? `-H 'content-type: application/json' --data-binary @- ` : ''
      }http://127.0.0.1:3000${path} <<'EOF'\n${body ? JSON.stringify(body) : ''}\nEOF`,
    );
  const json = (r: { stdout: string }) => JSON.parse(r.stdout.split('\n').slice(0, -1).join('\n'));
  const servers = async () => json(await rest('/api/server.all')) as Record<string, unknown>[];

  beforeAll(async () => {
    HORNBILL = labHost('hornbill');
    const b = await run('bootstrap', 'hornbill');
    if (b.code !== 0) throw new Error(`bootstrap hornbill:\n${b.all}`);
    const shown = await run('secrets', 'show', 'toucan', 'dokploy');
    key = /^dokploy_api_key=(\S+)$/m.exec(shown.stdout)?.[1] ?? '';
    expect(key.length).toBeGreaterThan(20);
  });

  it("hornbill is registered with infra's key over the tailnet, and Dokploy's login works", async () => {
    const hb = (await servers()).find((s) => s.name === 'hornbill');
    expect(hb).toMatchObject({
      ipAddress: HORNBILL.tailnetAddress,
      port: 22,
      username: 'dokploy',
      serverType: 'deploy',
    });
    const v = await rest(`/api/server.validate?serverId=${hb!.serverId}`);
    expect(code(v), v.all).toBe('200');
    expect(json(v)).toMatchObject({
      docker: { enabled: true },
      dockerGroupMember: true,
      privilegeMode: 'none',
    });
    const user = await onHost('hornbill', 'passwd -S dokploy; id -nG dokploy');
    expect(user.stdout).toMatch(/^dokploy L /);
    expect(user.stdout).toContain('docker');
  });

  it('Dokploy refuses a missing or wrong API key, as validateRequest does', async () => {
    for (const k of ['', 'not-the-key']) {
      const r = await rest('/api/server.all', undefined, k);
      expect(code(r)).toBe('401');
      expect(json(r)).toEqual({ message: 'Unauthorized' });
    }
  });

  it("the deploy user logs in from toucan with Dokploy's key over the tailnet, never over the public address", async () => {
    const keys = json(await rest('/api/sshKey.all')) as { name: string; privateKey: string }[];
    const priv = keys.find((k) => k.name === 'infra')!.privateKey;
    await onHost('toucan', `umask 077; cat > /tmp/dk-key <<'EOF'\n${priv.trim()}\nEOF`);
    const ssh = (addr: string) =>
      onHost(
        'toucan',
        `ssh -i /tmp/dk-key -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 dokploy@${addr} 'id -un'`,
      );
    expect((await ssh(HORNBILL.tailnetAddress)).stdout.trim()).toBe('dokploy');
    expect((await ssh(HORNBILL.publicAddress)).code).not.toBe(0);
    // Beside UFW, from= keeps the key to toucan's tailnet address.
    const keysFile = (await onHost('hornbill', 'cat /home/dokploy/.ssh/authorized_keys')).stdout;
    expect(keysFile).toMatch(
      new RegExp(`^from="${labHost('toucan').tailnetAddress.replace(/\./g, '\\.')}" ssh-ed25519 `),
    );
    await onHost('toucan', 'rm -f /tmp/dk-key');
  });

  it('a second run of both bootstraps changes nothing and calls no write endpoint', async () => {
    const before = (
      await onHost(
        'toucan',
        "docker service logs --raw dokploy 2>&1 | grep -c 'POST /api/[A-Za-z]*\\.' || true",
      )
    ).stdout;
    const h = await changesOf('bootstrap', 'hornbill');
    expect(h.changes, h.stdout).toBe(0);
    const t = await changesOf('bootstrap', 'toucan');
    expect(t.changes, t.stdout).toBe(0);
    const after = (
      await onHost(
        'toucan',
        "docker service logs --raw dokploy 2>&1 | grep -c 'POST /api/[A-Za-z]*\\.' || true",
      )
    ).stdout;
    expect(after).toBe(before);
  });

  it('check reports a changed and a missing registration; apply restores them', async () => {
    const hb = (await servers()).find((s) => s.name === 'hornbill')!;
    const upd = await rest('/api/server.update', { ...hb, username: 'root', totalSum: undefined });
    expect(code(upd), upd.all).toBe('200');
    const changed = await run('check', 'toucan');
    expect(changed.code, changed.all).toBe(2);
    expect(changed.all).toContain('update Dokploy server hornbill: username dokploy (is root)');
    expect((await run('apply', 'toucan')).code).toBe(0);
    expect((await servers()).find((s) => s.name === 'hornbill')?.username).toBe('dokploy');

    const rm = await rest('/api/server.remove', { serverId: hb.serverId });
    expect(code(rm), rm.all).toBe('200');
    const missing = await run('check', 'toucan');
    expect(missing.code, missing.all).toBe(2);
    expect(missing.all).toContain('register hornbill in Dokploy as a server');
    expect((await run('apply', 'toucan')).code).toBe(0);
    expect((await run('check', 'toucan')).code).toBe(0);
  });

  it('an unauthorised key makes Dokploy fail to log in: check waits for hornbill, apply hornbill fixes it', async () => {
    await onHost(
      'hornbill',
      "sed -i 's/ssh-ed25519 AAAA/ssh-ed25519 AAAB/' /home/dokploy/.ssh/authorized_keys",
    );
    const c = await run('check', 'toucan');
    expect(c.code, c.all).toBe(2);
    expect(c.all).toContain('Dokploy cannot use hornbill as dokploy@');
    expect(c.all).toContain('Authentication failed');
    const fix = await run('apply', 'hornbill');
    expect(fix.code, fix.all).toBe(0);
    expect((await run('check', 'toucan')).code).toBe(0);
  });

  it('a server infra registered for a host no longer in the inventory is reported, never removed', async () => {
    const hb = (await servers()).find((s) => s.name === 'hornbill')!;
    const made = await rest('/api/server.create', {
      name: 'oldhost',
      description: 'managed by infra (inventory host oldhost)',
      ipAddress: '100.64.9.9',
      port: 22,
      username: 'dokploy',
      sshKeyId: hb.sshKeyId,
      serverType: 'deploy',
    });
    expect(code(made), made.all).toBe('200');
    const c = await run('check', 'toucan');
    expect(c.code, c.all).toBe(2);
    expect(c.all).toContain(
      'Dokploy server oldhost was registered by infra, but host oldhost is no longer in the inventory',
    );
    const a = await run('apply', 'toucan');
    expect(a.code, a.all).toBe(2); // pending: the operator decides
    const old = (await servers()).find((s) => s.name === 'oldhost');
    expect(old).toBeDefined();
    expect(code(await rest('/api/server.remove', { serverId: old!.serverId }))).toBe('200');
    expect((await run('check', 'toucan')).code).toBe(0);
  });
});
