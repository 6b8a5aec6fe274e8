import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesOf, run } from './bootstrap-helpers.js';
import { ensureLab, inventoryText, onHost, resetInventory, stepTimer } from './harness.js';

/**
 * Metabase on the analytics host (toucan, the default), against the lab's Metabase stand-in
 * (lab/images/stacks/standin_metabase.py, docs/lab.md): it keeps its users, sessions and data
 * sources in the analytics instance's REAL PostgreSQL (`metabase` database, from MB_DB_*), refuses
 * what Metabase refuses (/api/setup twice, a wrong token, a common password, a request without a
 * session) and really connects to a data source when it is added or changed. The analytics layer is
 * nightly with no app: what is under test is Metabase, not the copies (an-core's files).
 */
const DIR = '/srv/infra/stacks/analytics';
const ADMIN = 'admin@sgl.as';
const ROUTE = 'metabase.sgl.as';
const SAVED = '/root/cloudflared-config.before-metabase-test';

const inventory = () =>
  `${inventoryText().replace(
    /(\n\s+- hostname: glitchtip\.sgl\.as\n\s+service: http:\/\/localhost:8000[^\n]*\n)/,
    `$1        - hostname: ${ROUTE}\n          service: http://localhost:3030   # Metabase on 127.0.0.1:3030\n`,
  )}
analytics:
  mode: nightly
  apps: []
  metabase:
    admin_email: ${ADMIN}
`;

/** One call of Metabase's API on toucan, one brace group: `CODE BODY`; `$sid` (a session) is sent when set. */
const api = (method: string, path: string, body?: string) =>
  `{ h=$(mktemp); [ -z "$sid" ] || printf 'X-Metabase-Session: %s\\n' "$sid" > "$h"
printf '%s' ${body === undefined ? "''" : `"${body}"`} | curl -s -X ${method} -H @"$h" -H 'content-type: application/json' ${body === undefined ? '' : '--data-binary @-'} -w ' %{http_code}' http://127.0.0.1:3030${path} | sed -E 's/^(.*) ([0-9]{3})$/\\2 \\1/'; echo; rm -f "$h"; }`;
const login = `sid=; sid=$(${api('POST', '/api/session', `{\\"username\\":\\"${ADMIN}\\",\\"password\\":\\"$(cat ${DIR}/metabase_admin_password)\\"}`)} | sed -n 's/.*"id": *"\\([^"]*\\)".*/\\1/p')`;
const psql = (db: string, sql: string) =>
  `docker exec analytics-db-1 psql -U analytics -d ${db} -tAc "${sql}"`;

describe('Metabase on the analytics host (LAB STAND-IN holding infra to the upstream contract)', () => {
  const { times, timed } = stepTimer();

  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    resetInventory(inventory());
    // A fresh analytics stack, so the order (admin before the tunnel names Metabase) is observed in
    // this run; the tunnel's config is kept aside and put back by afterAll.
    const r = await onHost(
      'toucan',
      `if [ -f ${DIR}/compose.yaml ]; then docker compose -p analytics -f ${DIR}/compose.yaml down -v --remove-orphans; fi
rm -rf ${DIR}
if [ -f /etc/cloudflared/config.yml ]; then cp -p /etc/cloudflared/config.yml ${SAVED}; rm -f /etc/cloudflared/config.yml; fi
! docker volume ls -q | grep -q '^analytics-pg'`,
    );
    if (r.code !== 0) throw new Error(`wiping the analytics stack on toucan:\n${r.all}`);
  });

  afterAll(async () => {
    resetInventory();
    await onHost(
      'toucan',
      `if [ -f ${DIR}/compose.yaml ]; then docker compose -p analytics -f ${DIR}/compose.yaml down -v --remove-orphans; fi
rm -rf ${DIR}
if [ -f ${SAVED} ]; then mv -f ${SAVED} /etc/cloudflared/config.yml; else rm -f /etc/cloudflared/config.yml; fi`,
    );
  });

  it('apply: Metabase healthy on PostgreSQL, its admin made before the tunnel names it; second run zero changes', async () => {
    const first = await timed('bootstrap toucan with Metabase', () => run('bootstrap', 'toucan'));
    expect(first.code, first.all).toBe(0);
    const health = await onHost('toucan', 'curl -s http://127.0.0.1:3030/api/health');
    expect(JSON.parse(health.stdout)).toEqual({ status: 'ok' });
    // Whole seconds on both sides: stat's %Y truncates, so the epoch is floored (a ::bigint cast
    // rounds, which made GlitchTip's twin of this check flaky in CI).
    const t = await onHost(
      'toucan',
      `${psql('metabase', `select floor(extract(epoch from date_joined))::bigint || '|' || is_superuser from core_user where email = '${ADMIN}'`)}
stat -c %Y /etc/cloudflared/config.yml; grep -c ${ROUTE} /etc/cloudflared/config.yml`,
    );
    const [row = '', mtime = '', routes = ''] = t.stdout.split('\n');
    const [created, superuser] = row.split('|');
    expect(superuser, t.all).toBe('true');
    expect(Number(created)).toBeLessThanOrEqual(Number(mtime));
    expect(routes).toBe('1');
    // Metabase's application database is the analytics instance's `metabase`, not H2.
    const env = await onHost('toucan', 'docker exec analytics-metabase-1 printenv MB_DB_TYPE MB_DB_DBNAME');
    expect(env.stdout.split('\n')).toEqual(['postgres', 'metabase']);

    const again = await timed('second apply', () => changesOf('apply', 'toucan'));
    expect(again.code, again.stdout).toBe(0);
    expect(again.changes, again.stdout).toBe(0);
  });

  it('setup is refused a second time; the generated password logs in; tracking is off; no session, no answer', async () => {
    const props = JSON.parse(
      (await onHost('toucan', 'curl -s http://127.0.0.1:3030/api/session/properties')).stdout,
    );
    expect(props).toMatchObject({
      'setup-token': null,
      'has-user-setup': true,
      'anon-tracking-enabled': false,
    });
    const token = (
      await onHost('toucan', psql('metabase', "select value from setting where key = 'setup-token'"))
    ).stdout.trim();
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    const body = (t: string) =>
      `{\\"token\\":\\"${t}\\",\\"user\\":{\\"email\\":\\"intruder@example.com\\",\\"password\\":\\"Zq8vXw2pLm4k\\"},\\"prefs\\":{\\"site_name\\":\\"x\\"}}`;
    const second = await onHost('toucan', `sid=\n${api('POST', '/api/setup', body(token))}`);
    expect(second.stdout).toMatch(/^403 .*can only be used to create the first user/);
    const wrong = await onHost(
      'toucan',
      `sid=\n${api('POST', '/api/setup', body('00000000-0000-0000-0000-000000000000'))}`,
    );
    expect(wrong.stdout).toMatch(/^400 .*Token does not match the setup token/);

    const shown = await run('secrets', 'show', 'toucan', 'analytics');
    expect(shown.code, shown.all).toBe(0);
    expect(shown.stdout).toMatch(/^metabase_admin_password=[A-Za-z0-9]{48}$/m);
    const mode = await onHost('toucan', `stat -c %a ${DIR}/metabase_admin_password`);
    expect(mode.stdout.trim()).toBe('600');
    const session = await onHost('toucan', `${login}; [ -n "$sid" ] && echo logged-in`);
    expect(session.stdout.trim(), session.all).toBe('logged-in');
    const anonymous = await onHost('toucan', `sid=\n${api('GET', '/api/database')}`);
    expect(anonymous.stdout).toMatch(/^401 Unauthenticated/);
  });

  it('the data source is analytics as analytics_ro, masked in answers, sealed at rest, and really connected', async () => {
    const r = await onHost('toucan', `${login}\n${api('GET', '/api/database')}`);
    const [code, ...rest] = r.stdout.trim().split(' ');
    expect(code, r.all).toBe('200');
    const { data } = JSON.parse(rest.join(' '));
    expect(data).toEqual([
      expect.objectContaining({
        name: 'analytics',
        engine: 'postgres',
        details: expect.objectContaining({
          host: 'db',
          port: 5432,
          dbname: 'analytics',
          user: 'analytics_ro',
          password: '**MetabasePass**',
        }),
      }),
    ]);
    // The stored details do not hold the read-only password in clear (MB_ENCRYPTION_SECRET_KEY).
    const sealed = await onHost(
      'toucan',
      `${psql('metabase', 'select details from metabase_database')} | grep -cF "$(cat ${DIR}/ro_password)"`,
    );
    expect(sealed.stdout.trim()).toBe('0');
    // Registering the same source with a wrong password is refused: the stand-in really connects.
    const bad = await onHost(
      'toucan',
      `${login}\n${api('POST', '/api/database', '{\\"name\\":\\"probe\\",\\"engine\\":\\"postgres\\",\\"details\\":{\\"host\\":\\"db\\",\\"port\\":5432,\\"dbname\\":\\"analytics\\",\\"user\\":\\"analytics_ro\\",\\"password\\":\\"wrong1\\"}}')}`,
    );
    expect(bad.stdout).toMatch(/^400 .*password authentication failed for user \\"analytics_ro\\"/);
  });

  it('a data source changed through Metabase`s API is reported by check and restored by apply', async () => {
    const id = (
      await onHost('toucan', psql('metabase', "select id from metabase_database where name = 'analytics'"))
    ).stdout.trim();
    const put = await onHost(
      'toucan',
      `${login}\n${api('PUT', `/api/database/${id}`, `{\\"details\\":{\\"user\\":\\"analytics\\",\\"password\\":\\"$(cat ${DIR}/pg_password)\\"}}`)}`,
    );
    expect(put.stdout, put.all).toMatch(/^200 /);
    const drift = await run('check', 'toucan', '--json');
    expect(drift.code, drift.all).toBe(2);
    const findings = JSON.parse(drift.stdout).hosts[0].findings;
    expect(JSON.stringify(findings)).toContain(
      'connects as analytics@db:5432/analytics, not analytics_ro@db:5432/analytics',
    );
    expect(JSON.stringify(findings)).toContain('metabase-source-differs');

    const fix = await timed('apply restores the source', () => run('apply', 'toucan'));
    expect(fix.code, fix.all).toBe(0);
    const back = await onHost('toucan', `${login}\n${api('GET', '/api/database')}`);
    expect(back.stdout).toContain('"user": "analytics_ro"');
    const again = await changesOf('apply', 'toucan');
    expect(again.changes, again.stdout).toBe(0);
    console.log('analytics-metabase step times (s):', times);
  });
});
