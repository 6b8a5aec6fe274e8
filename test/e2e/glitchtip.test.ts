import { beforeAll, describe, expect, it } from 'vitest';
import { changesOf, run } from './bootstrap-helpers.js';
import { ensureLab, infra, inventoryText, onHost, resetInventory } from './harness.js';

/**
 * GlitchTip on toucan as the tunnel serves it, against the lab's GlitchTip stand-in
 * (lab/images/stacks/standin_glitchtip.py, docs/lab.md), which enforces the upstream contract
 * infra depends on: Django's CSRF origin check, GlitchTip's registration rule (open while no user
 * exists, else ENABLE_USER_REGISTRATION), `createsuperuser --noinput`, and a refused missing
 * SECRET_KEY; its users live in the stack's REAL PostgreSQL 18. The repository's tunnel is a
 * token (dashboard) tunnel, whose routes infra cannot push (the API form, through the lab edge,
 * is test/e2e/cloudflare.test.ts), so requests are made on toucan as cloudflared forwards them:
 * plain HTTP to 127.0.0.1:8000 with the public Host, and the browser's Origin.
 */
const DIR = '/srv/infra/stacks/glitchtip';
const PUBLIC = 'https://glitchtip.sgl.as';
const ADMIN = 'admin@sgl.as';

/**
 * One browser-style POST through GlitchTip's CSRF check: `CODE BODY`. It first waits (≤ 60 s) for
 * the web service to accept connections: `compose up --wait` can return before a restarted web
 * listens, and a loaded rehearsal got HTTP 000 there, and no CSRF token.
 */
const post = (path: string, origin: string, body: Record<string, string>) => `
rm -f /tmp/gt-out; i=0
while [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: glitchtip.sgl.as' http://127.0.0.1:8000/_allauth/browser/v1/auth/session)" = 000 ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
tok=$(curl -s -D - -o /dev/null -H 'Host: glitchtip.sgl.as' http://127.0.0.1:8000/_allauth/browser/v1/auth/session | tr -d '\\r' | sed -n 's/^Set-Cookie: csrftoken=\\([^;]*\\).*/\\1/p')
curl -s -o /tmp/gt-out -w '%{http_code} ' -H 'Host: glitchtip.sgl.as' -H 'Origin: ${origin}' -H "Cookie: csrftoken=$tok" -H "X-CSRFToken: $tok" -H 'Content-Type: application/json' --data '${JSON.stringify(body)}' http://127.0.0.1:8000${path}
cat /tmp/gt-out`;

const LOGIN = '/_allauth/browser/v1/auth/login';
const adminPassword = async () => {
  const shown = await run('secrets', 'show', 'toucan', 'glitchtip');
  expect(shown.code, shown.all).toBe(0);
  return /^admin_password=([A-Za-z0-9]{48})$/m.exec(shown.stdout)![1]!;
};
const settings = async () =>
  JSON.parse(
    (await onHost('toucan', `curl -s -H 'Host: glitchtip.sgl.as' http://127.0.0.1:8000/api/settings/`))
      .stdout,
  );

describe('GlitchTip behind the tunnel (LAB STAND-IN holding infra to the upstream contract)', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    // A fresh GlitchTip, so the order (superuser before the tunnel's routes) is observed in this
    // run, not assumed: its stack, volumes (users), generated secrets and the tunnel's config go;
    // the rest of toucan stays as the files before left it (a cold toucan is bootstrap.test.ts's
    // job; resetting the whole host here cost a cold bootstrap of ~2-3 min in CI).
    const r = await onHost(
      'toucan',
      `if [ -f ${DIR}/compose.yaml ]; then docker compose -p glitchtip -f ${DIR}/compose.yaml down -v --remove-orphans; fi
rm -rf ${DIR} /etc/cloudflared/config.yml
! docker volume ls -q | grep -q '^glitchtip_'`,
    );
    if (r.code !== 0) throw new Error(`wiping GlitchTip on toucan:\n${r.all}`);
  });

  it('bootstrap: the superuser exists before the tunnel config is written; second run zero changes', async () => {
    const first = await run('bootstrap', 'toucan');
    expect(first.code, first.all).toBe(0);
    expect(first.all).toMatch(/warning: GlitchTip has no outgoing mail/);
    // Whole seconds on both sides: stat's %Y truncates, so the epoch is floored (a ::bigint cast
    // rounds, and a superuser made in the same second as the file read one second "later" in CI).
    const t = await onHost(
      'toucan',
      `docker exec glitchtip-postgres-1 psql -U glitchtip -d glitchtip -tAc "select floor(extract(epoch from created))::bigint, is_superuser from users_user where email = '${ADMIN}'"; stat -c %Y /etc/cloudflared/config.yml`,
    );
    const [row = '', mtime = ''] = t.stdout.split('\n');
    const [created, superuser] = row.split('|');
    expect(superuser, t.all).toBe('t');
    expect(Number(created)).toBeLessThanOrEqual(Number(mtime));

    const again = await changesOf('bootstrap', 'toucan');
    expect(again.code, again.stdout).toBe(0);
    expect(again.changes, again.stdout).toBe(0);
    const check = await run('check', 'toucan', '--json');
    expect(check.code, check.all).toBe(0);
    expect(JSON.parse(check.stdout).hosts[0].warnings).toEqual([
      expect.stringContaining('GlitchTip has no outgoing mail'),
      // The repository's 443/tcp rule with nothing behind it (docs/bootstrap.md): said, not drift.
      expect.stringContaining(
        'UFW allows 443/tcp from anywhere (firewall.allow) but nothing on toucan serves it',
      ),
    ]);
  });

  it('a login POST from the public origin succeeds with the generated password; a foreign origin is refused', async () => {
    const pw = await adminPassword();
    const ok = await onHost('toucan', post(LOGIN, PUBLIC, { email: ADMIN, password: pw }));
    expect(ok.stdout, ok.all).toMatch(/^200 .*"is_authenticated": true/);
    const foreign = await onHost(
      'toucan',
      post(LOGIN, 'https://evil.example', { email: ADMIN, password: pw }),
    );
    expect(foreign.stdout).toMatch(/^403 .*Origin checking failed - https:\/\/evil\.example/s);
    const wrong = await onHost('toucan', post(LOGIN, PUBLIC, { email: ADMIN, password: 'not-the-password' }));
    expect(wrong.stdout).toMatch(/^400 .*email_password_mismatch/);
  });

  it('registration is closed: the settings API says so and a signup is refused', async () => {
    expect(await settings()).toMatchObject({ enableUserRegistration: false });
    const r = await onHost(
      'toucan',
      post('/_allauth/browser/v1/auth/signup', PUBLIC, {
        email: 'intruder@example.com',
        password: 'longenough1',
      }),
    );
    expect(r.stdout).toMatch(/^403 /);
  });

  it('the defects, put back by hand, are caught: the stand-in refuses, check names the file, apply restores', async () => {
    const pw = await adminPassword();
    await onHost(
      'toucan',
      `cd ${DIR} && sed -i -e '/CSRF_TRUSTED_ORIGINS:/d' -e 's/ENABLE_USER_REGISTRATION: "false"/ENABLE_USER_REGISTRATION: "true"/' compose.yaml && docker compose -p glitchtip -f compose.yaml up -d --wait >/dev/null 2>&1`,
    );
    const refused = await onHost('toucan', post(LOGIN, PUBLIC, { email: ADMIN, password: pw }));
    expect(refused.stdout).toMatch(/^403 .*Origin checking failed - https:\/\/glitchtip\.sgl\.as/s);
    expect(await settings()).toMatchObject({ enableUserRegistration: true });
    const drift = await run('check', 'toucan');
    expect(drift.code, drift.all).toBe(2);
    expect(drift.all).toContain(`update ${DIR}/compose.yaml`);

    const fix = await run('apply', 'toucan');
    expect(fix.code, fix.all).toBe(0);
    expect((await onHost('toucan', post(LOGIN, PUBLIC, { email: ADMIN, password: pw }))).stdout).toMatch(
      /^200 /,
    );
    expect(await settings()).toMatchObject({ enableUserRegistration: false });
  });

  it('a missing SECRET_KEY is refused, and a superuser without a password cannot log in', async () => {
    const r = await onHost(
      'toucan',
      'docker run --rm -e DATABASE_URL=postgres://x@127.0.0.1/x glitchtip/glitchtip:6.2.6 ./bin/run-web.sh; echo "exit=$?"',
    );
    expect(r.all).toMatch(/SECRET_KEY is not set/);
    expect(r.stdout).toMatch(/exit=1$/);
    // Without DJANGO_SUPERUSER_PASSWORD, createsuperuser --noinput sets an unusable password.
    const made = await onHost(
      'toucan',
      `docker exec -w /code glitchtip-web-1 ./manage.py createsuperuser --noinput --email nopw@sgl.as; docker exec -w /code glitchtip-web-1 ./manage.py createsuperuser --noinput --email ${ADMIN}; echo "exit=$?"`,
    );
    expect(made.all).toMatch(/already taken/);
    expect(made.stdout).toMatch(/exit=1$/);
    const nopw = await onHost('toucan', post(LOGIN, PUBLIC, { email: 'nopw@sgl.as', password: '' }));
    expect(nopw.stdout).toMatch(/^400 /);
    await onHost(
      'toucan',
      `docker exec glitchtip-postgres-1 psql -U glitchtip -d glitchtip -qc "delete from users_user where email = 'nopw@sgl.as'"`,
    );
  });

  it('outgoing mail from an SMTP URL given as a secret ref: EMAIL_URL reaches web and worker, never the compose file', async () => {
    const url = 'smtp+tls://alerts:s3cretLabPw@mx.lab.invalid:587';
    resetInventory(
      inventoryText().replace(
        '  # email_url: env:GLITCHTIP_EMAIL_URL',
        '  email_url: env:GLITCHTIP_EMAIL_URL',
      ),
    );
    const withMail = (args: string[]) => infra(['--lab', ...args], { env: { GLITCHTIP_EMAIL_URL: url } });
    try {
      const first = await withMail(['apply', 'toucan']);
      expect(first.code, first.all).toBe(0);
      expect(first.all).not.toContain('s3cretLabPw');
      expect(first.all).not.toMatch(/no outgoing mail/);
      const r = await onHost(
        'toucan',
        `stat -c %a ${DIR}/.env; for s in web worker; do docker exec glitchtip-$s-1 printenv EMAIL_URL; done; grep -c s3cretLabPw ${DIR}/compose.yaml`,
      );
      expect(r.stdout.split('\n')).toEqual(['600', url, url, '0']);
      const again = await withMail(['apply', 'toucan', '--json']);
      expect(again.code, again.stdout).toBe(0);
      expect(JSON.parse(again.stdout).hosts[0].changes).toEqual([]);
    } finally {
      resetInventory();
    }
    // Back to no mail: the file is emptied and the containers lose EMAIL_URL.
    const back = await run('apply', 'toucan');
    expect(back.code, back.all).toBe(0);
    const r = await onHost(
      'toucan',
      `wc -c < ${DIR}/.env; docker exec glitchtip-web-1 printenv EMAIL_URL; echo "exit=$?"`,
    );
    expect(r.stdout.split('\n')).toEqual(['0', 'exit=1']);
  });
});
