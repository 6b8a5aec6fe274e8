import type { Change, Task } from '../engine/task.js';
import { EMAIL } from '../inventory/schema.js';
import { shq } from '../quote.js';
import { GLITCHTIP } from './glitchtip.js';
import { refusal } from './lib/refuse.js';
import { stackDir } from './stacks.js';

/**
 * GlitchTip's superuser, created by infra before the tunnel publishes GlitchTip: upstream keeps
 * registration open while no user exists (apps/users/utils.py: `ENABLE_USER_REGISTRATION or not
 * User.objects.exists()`), so the first visitor of a fresh instance would sign up otherwise.
 *
 * Read from GlitchTip's own PostgreSQL (`users_user`: app `users`, model `User`, whose
 * USERNAME_FIELD is `email`); created with Django's `createsuperuser --noinput --email`, which
 * reads the password from DJANGO_SUPERUSER_PASSWORD (django/contrib/auth/management/commands/
 * createsuperuser.py). The password is `admin_password`, generated on the host once by the
 * secrets task; it travels in the environment of `docker exec`, never in argv, and is never
 * reset by a re-run (a password changed in GlitchTip's UI stays).
 */
export type AdminState =
  | { kind: 'superuser' | 'user' | 'none' }
  /** No database container yet, or GlitchTip has not migrated: nothing can be known. */
  | { kind: 'unknown'; why: string };

const PASSWORD = `${stackDir(GLITCHTIP)}/admin_password`;

const containerOf = (service: string) =>
  `docker ps -q --filter ${shq(`label=com.docker.compose.project=${GLITCHTIP}`)} --filter ${shq(`label=com.docker.compose.service=${service}`)} | head -n1`;

function checkEmail(email: string): void {
  if (!EMAIL.test(email)) throw new Error(`bad email ${JSON.stringify(email)}`);
}

export function adminProbe(email: string): string {
  checkEmail(email);
  // psql quotes the value itself (:'email'); the shell sees it single-quoted by shq.
  const query = `select 'su=' || is_superuser::text from users_user where email = :'email';`;
  return [
    `pg=$(${containerOf('postgres')})`,
    'if [ -z "$pg" ]; then echo "state=unknown no running postgres container"; exit 0; fi',
    `if out=$(printf '%s\\n' ${shq(query)} | docker exec -i "$pg" psql -X -q -tA -U glitchtip -d glitchtip -v email=${shq(email)} 2>&1); then`,
    '  case "$out" in su=true*) echo state=superuser;; su=false*) echo state=user;; "") echo state=none;; *) echo "state=unknown $out";; esac',
    'else echo "state=unknown $(echo "$out" | head -n1)"; fi',
  ].join('\n');
}

export function parseAdmin(stdout: string): AdminState {
  const line = stdout.split('\n').find((l) => l.startsWith('state=')) ?? 'state=unknown no answer';
  const [kind = 'unknown', ...why] = line.slice('state='.length).trim().split(' ');
  if (kind === 'superuser' || kind === 'user' || kind === 'none') return { kind };
  return { kind: 'unknown', why: why.join(' ') || 'no answer' };
}

export function diffAdmin(email: string, host: string, st: AdminState): Change[] {
  if (st.kind === 'superuser') return [];
  if (st.kind === 'user')
    return [
      {
        summary: `GlitchTip user ${email} exists but is not a superuser`,
        kind: 'superuser-demoted',
        expected: 'superuser',
        actual: 'user',
      },
    ];
  const known = st.kind === 'unknown' ? ` (${st.why})` : '';
  return [
    {
      summary: `create GlitchTip superuser ${email}${known}; its password: infra secrets show ${host} glitchtip`,
      kind: 'superuser-missing',
      expected: 'superuser',
      actual: null,
    },
  ];
}

export function createAdminScript(email: string): string {
  checkEmail(email);
  return [
    'set -e',
    `web=$(${containerOf('web')})`,
    `[ -n "$web" ] || { echo "GlitchTip's web container is not running" >&2; exit 1; }`,
    `DJANGO_SUPERUSER_PASSWORD=$(cat ${shq(PASSWORD)})`,
    '[ -n "$DJANGO_SUPERUSER_PASSWORD" ] || { echo "admin_password is empty" >&2; exit 1; }',
    'export DJANGO_SUPERUSER_PASSWORD',
    `docker exec -e DJANGO_SUPERUSER_PASSWORD -w /code "$web" ./manage.py createsuperuser --noinput --email ${shq(email)}`,
  ].join('\n');
}

/** GlitchTip's superuser `email` on `host` (the host names it in the message with its password). */
export function glitchtipAdminTask(
  want: { email: string; host: string },
  after: string[] = [],
): Task<AdminState> {
  const { email, host } = want;
  return {
    id: `stack:${GLITCHTIP}:superuser`,
    after,
    probe: adminProbe(email),
    parse: parseAdmin,
    diff: (st) => diffAdmin(email, host, st),
    apply: (st) => {
      // A demoted owner is GlitchTip's own change: reported, never silently promoted back.
      if (st.kind === 'user') {
        const why = `GlitchTip user ${email} exists but is not a superuser: promote it in GlitchTip's admin, or set glitchtip.admin_email to another address`;
        return [refusal(why)];
      }
      return [{ script: createAdminScript(email), timeoutMs: 120_000 }];
    },
  };
}
