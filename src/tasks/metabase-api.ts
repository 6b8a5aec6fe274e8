import { shq } from '../quote.js';
import { scratchFile } from './lib/file.js';
import { METABASE_ADMIN_PASSWORD, METABASE_URL, metabaseDir } from './metabase.js';

/**
 * Metabase's API as infra calls it from the host, over the loopback port (docs/analytics.md (f)):
 * - src/metabase/session/api.clj: `POST /api/session {username, password}` → `{id}` (401 on a
 *   bad password); the id then travels in the `X-Metabase-Session` header; `DELETE /api/session`
 *   ends it. Any other /api route without a valid session: 401 "Unauthenticated"
 *   (server/middleware/auth.clj).
 * - src/metabase/server/routes.clj: every /api route but /api/health answers 503 while
 *   Metabase initialises.
 * Secrets (the admin's password, a session id) reach curl through 0600 scratch files
 * (`-H @file`, `--data-binary @-` from printf, a shell builtin): never argv.
 */
export const adminPasswordFile = () => `${metabaseDir()}/${METABASE_ADMIN_PASSWORD}`;

/**
 * Shell functions: `mb_api METHOD PATH` (body on stdin for POST/PUT) prints the body, then the
 * HTTP code on a line of its own (000: no answer); it sends `$mb_sid` when set. `mb_login EMAIL`
 * sets mb_sid from the admin's password file (empty when refused) and mb_code (POST's HTTP code); `mb_logout` ends it.
 */
export function apiHelpers(): string {
  const pw = shq(adminPasswordFile());
  return [
    'mb_sid=',
    'mb_api() {',
    `  ${scratchFile('mb_h')} || return 1`,
    '  [ -z "$mb_sid" ] || printf \'X-Metabase-Session: %s\\n\' "$mb_sid" > "$mb_h"',
    '  case "$1" in',
    `    POST|PUT) mb_o=$(curl -s -m 60 -X "$1" -H @"$mb_h" -H 'content-type: application/json' --data-binary @- -w '\\n%{http_code}' "${METABASE_URL}$2");;`,
    `    *) mb_o=$(curl -s -m 60 -X "$1" -H @"$mb_h" -w '\\n%{http_code}' "${METABASE_URL}$2" </dev/null);;`,
    '  esac',
    '  rm -f "$mb_h"; [ -n "$mb_o" ] || mb_o=\'\n000\'; printf \'%s\\n\' "$mb_o"',
    '}',
    'mb_login() {',
    '  mb_sid=; mb_code=000',
    `  [ -s ${pw} ] || { mb_code=nopw; return 0; }`,
    `  mb_lo=$(printf '{"username":"%s","password":"%s"}' "$1" "$(cat ${pw})" | mb_api POST /api/session)`,
    '  mb_code=$(printf \'%s\\n\' "$mb_lo" | tail -n1)',
    '  mb_sid=$(printf \'%s\\n\' "$mb_lo" | sed -n \'1s/.*"id" *: *"\\([^"]*\\)".*/\\1/p\')',
    '}',
    'mb_logout() { [ -z "$mb_sid" ] || mb_api DELETE /api/session >/dev/null; mb_sid=; }',
  ].join('\n');
}

/** Pure: an mb_api answer cut into code and body. */
export function answer(text: string | undefined): { code: string; body: string } {
  const lines = (text ?? '').trim().split('\n');
  const code = lines.pop()?.trim() || '000';
  return { code: /^\d{3}$/.test(code) ? code : '000', body: lines.join('\n') };
}

/** Pure: JSON, or undefined when the body is not JSON (Metabase's 503 while initialising is text). */
export function jsonOf(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}
