import type { Change, Task } from '../engine/task.js';
import { EMAIL } from '../inventory/schema.js';
import { shq } from '../quote.js';
import { ANALYTICS } from './analytics-stack.js';
import { sections } from './lib/parse.js';
import { refusal } from './lib/refuse.js';
import { METABASE_DB, METABASE_WAIT_SEC } from './metabase.js';
import { adminPasswordFile, answer, apiHelpers, jsonOf } from './metabase-api.js';

/**
 * Metabase's first user, made by infra through `POST /api/setup` before any tunnel route reaches
 * Metabase (ROUTE_GATES, roles/control.ts): until a user exists, whoever holds the setup token
 * (a public setting, `GET /api/session/properties`) can make themselves admin.
 * src/metabase/setup/api.clj + setup/settings.clj (v0.64.1; docs/lab.md names the snapshot):
 * body `{token, user: {email, password, first_name, last_name}, prefs: {site_name}}`; 400 for a
 * wrong token ("Token does not match the setup token.") or a weak/common password
 * (util/password.clj: 6+ characters with a digit, not on zxcvbn's list); 403 once a user exists.
 * Whether the admin exists is read from Metabase's own `core_user` table in the analytics
 * instance — which also proves its state is in PostgreSQL, not H2.
 */
export type MetabaseAdminState =
  | { kind: 'superuser' | 'user' }
  /** No such user; `claimed` when Metabase already has a user (someone set it up first). */
  | { kind: 'none'; claimed: boolean }
  | { kind: 'unknown'; why: string };

export const ADMIN_TASK = `stack:${ANALYTICS}:metabase-admin`;

const dbContainer = `docker ps -q --filter ${shq(`label=com.docker.compose.project=${ANALYTICS}`)} --filter ${shq('label=com.docker.compose.service=db')} | head -n1`;

function checkEmail(email: string): void {
  if (!EMAIL.test(email)) throw new Error(`bad email ${JSON.stringify(email)}`);
}

export function metabaseAdminProbe(email: string, superuser: string): string {
  checkEmail(email);
  const query = `select 'su=' || is_superuser::text from core_user where lower(email) = lower(:'email');`;
  return [
    apiHelpers(),
    'echo @@props',
    'mb_api GET /api/session/properties',
    'echo @@user',
    `pg=$(${dbContainer})`,
    'if [ -z "$pg" ]; then echo "unknown no running analytics db container"',
    `elif out=$(printf '%s\\n' ${shq(query)} | docker exec -i "$pg" psql -X -q -tA -U ${shq(superuser)} -d ${METABASE_DB} -v email=${shq(email)} 2>&1); then`,
    '  case "$out" in su=true*) echo superuser;; su=false*) echo user;; "") echo none;; *) echo "unknown $out";; esac',
    'else echo "unknown $(echo "$out" | head -n1)"; fi',
  ].join('\n');
}

export function parseMetabaseAdmin(stdout: string): MetabaseAdminState {
  const s = sections(stdout);
  const user = (s.get('user') ?? '').trim().split('\n')[0] ?? '';
  const props = answer(s.get('props'));
  const json = props.code === '200' ? (jsonOf(props.body) as Record<string, unknown> | undefined) : undefined;
  if (user === 'superuser' || user === 'user') return { kind: user };
  if (user === 'none') return { kind: 'none', claimed: json?.['has-user-setup'] === true };
  return { kind: 'unknown', why: user.replace(/^unknown\s*/, '') || 'no answer' };
}

export function diffMetabaseAdmin(email: string, host: string, st: MetabaseAdminState): Change[] {
  if (st.kind === 'superuser') return [];
  if (st.kind === 'user')
    return [
      {
        summary: `Metabase user ${email} exists but is not an admin`,
        kind: 'metabase-admin-demoted',
        expected: 'superuser',
        actual: 'user',
      },
    ];
  if (st.kind === 'none' && st.claimed)
    return [
      {
        summary: `Metabase was set up without ${email}: another user exists (someone reached it before infra)`,
        kind: 'metabase-admin-foreign',
        expected: email,
        actual: 'another first user',
      },
    ];
  const known = st.kind === 'unknown' ? ` (${st.why})` : '';
  return [
    {
      summary: `create Metabase admin ${email} through /api/setup${known}; its password: infra secrets show ${host} ${ANALYTICS}`,
      kind: 'metabase-admin-missing',
      expected: 'superuser',
      actual: null,
    },
  ];
}

/** Shell: waits (bounded) for Metabase to answer, reads the setup token, makes the admin. */
export function setupScript(email: string): string {
  checkEmail(email);
  const pw = shq(adminPasswordFile());
  const body =
    '{"token":"%s","user":{"email":%s,"password":"%s","first_name":"infra","last_name":"admin"},"prefs":{"site_name":"Analytics"}}';
  return [
    apiHelpers(),
    `[ -s ${pw} ] || { echo "${adminPasswordFile()} is missing" >&2; exit 1; }`,
    `end=$(( $(date +%s) + ${METABASE_WAIT_SEC} ))`,
    'while :; do',
    '  a=$(mb_api GET /api/session/properties)',
    '  [ "$(printf \'%s\\n\' "$a" | tail -n1)" = 200 ] && break',
    '  [ "$(date +%s)" -lt "$end" ] || { echo "Metabase does not answer /api/session/properties: $(printf \'%s\' "$a" | tr \'\\n\' \' \')" >&2; exit 1; }',
    '  sleep 2',
    'done',
    `token=$(printf '%s\\n' "$a" | sed -n '1s/.*"setup-token" *: *"\\([^"]*\\)".*/\\1/p')`,
    '[ -n "$token" ] || { echo "Metabase offers no setup token (a user exists already)" >&2; exit 1; }',
    `r=$(printf ${shq(body)} "$token" ${shq(JSON.stringify(email))} "$(cat ${pw})" | mb_api POST /api/setup)`,
    'code=$(printf \'%s\\n\' "$r" | tail -n1)',
    '[ "$code" = 200 ] || { echo "POST /api/setup answered $code: $(printf \'%s\\n\' "$r" | sed \'$d\')" >&2; exit 1; }',
  ].join('\n');
}

/** Metabase's admin `email` on `host` (named in the message with its password's command). */
export function metabaseAdminTask(
  want: { email: string; host: string; superuser: string },
  after: string[] = [],
): Task<MetabaseAdminState> {
  const { email, host, superuser } = want;
  return {
    id: ADMIN_TASK,
    after,
    probe: metabaseAdminProbe(email, superuser),
    parse: parseMetabaseAdmin,
    diff: (st) => diffMetabaseAdmin(email, host, st),
    apply: (st) => {
      // Both are Metabase's own state: reported, never silently changed.
      if (st.kind === 'user')
        return [
          refusal(
            `Metabase user ${email} exists but is not an admin: make it one in Metabase's admin, or set analytics.metabase.admin_email to an admin's address`,
          ),
        ];
      if (st.kind === 'none' && st.claimed)
        return [
          refusal(
            `Metabase already has a first user that is not ${email}: check who set it up; if it is not yours, remove the ${METABASE_DB} database and apply again`,
          ),
        ];
      return [{ script: setupScript(email), timeoutMs: (METABASE_WAIT_SEC + 60) * 1000 }];
    },
  };
}
