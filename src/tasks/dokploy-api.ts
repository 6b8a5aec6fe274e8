import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { sections } from './os-release.js';

/**
 * Dokploy's REST API as infra calls it, from toucan itself (docs/stacks.md, "Apps hosts in
 * Dokploy"): curl on the host to 127.0.0.1:3000, Dokploy's published port, where loopback is
 * always allowed. Read from Dokploy v0.30.2:
 * - apps/dokploy/pages/api/[...trpc].ts: every procedure is `/api/<router>.<procedure>` (GET for a
 *   query, POST + JSON body for a mutation), behind validateRequest (packages/server/src/lib/auth.ts),
 *   which takes the `x-api-key` header (better-auth's apiKey plugin, `enableMetadata: true`);
 *   no or a wrong key: 401 {"message":"Unauthorized"};
 * - apps/dokploy/server/api/routers/user.ts `createApiKey`: a session's call; its
 *   metadata.organizationId becomes the key's organisation (services/user.ts createApiKey).
 * The key lives in the stack directory (mode 600) and travels to curl in a 0600 temp header file,
 * never in argv; jq (installed with the stack) builds and reads the JSON.
 */
export const API_KEY_FILE = 'dokploy_api_key';
export const API_KEY_NAME = 'infra';
const BASE = 'http://127.0.0.1:3000';

/** Shell: `dk_api GET|POST PATH` (POST body on stdin) prints the body, then the HTTP code on a line of its own. */
export function apiHelpers(dir: string): string {
  const key = shq(`${dir}/${API_KEY_FILE}`);
  return [
    'dk_api() {',
    `  [ -s ${key} ] || { printf '\\n401\\n'; return 0; }`,
    `  h=$(mktemp) && printf 'x-api-key: %s\\n' "$(cat ${key})" > "$h" || return 1`,
    `  if [ "$1" = POST ]; then o=$(curl -s -m 40 -H @"$h" -H 'content-type: application/json' --data-binary @- -w '\\n%{http_code}' "${BASE}$2"); else o=$(curl -s -m 40 -H @"$h" -w '\\n%{http_code}' "${BASE}$2" </dev/null); fi`,
    '  rm -f "$h"; [ -n "$o" ] || o=\'\n000\'; printf \'%s\\n\' "$o"',
    '}',
    // The body of a dk_api answer, when its code is `200`; else nothing, and exit status 1.
    "dk_ok() { printf '%s\\n' \"$1\" | tail -n1 | grep -qx 200 && printf '%s\\n' \"$1\" | sed '$d'; }",
  ].join('\n');
}

/** Pure: a dk_api answer cut into code and body. */
export function answer(text: string | undefined): { code: string; body: string } {
  const lines = (text ?? '').trim().split('\n');
  const code = lines.pop()?.trim() || '000';
  return { code: /^\d{3}$/.test(code) ? code : '000', body: lines.join('\n') };
}

export interface ApiKeyState {
  /** jq is on the host (the probe needs it to read Dokploy's answers). */
  jq: boolean;
  /** The key file exists (non-empty). */
  file: boolean;
  /** Dokploy's answer to organization.all with the key: 200 accepted, 401 refused, 000 down. */
  code: string;
  /** The key's organisation (what sshKey.create needs). */
  organizationId?: string;
}

export function apiKeyProbe(dir: string): string {
  return [
    'command -v jq >/dev/null 2>&1 || { echo @@nojq; exit 0; }',
    apiHelpers(dir),
    'echo @@file',
    `[ -s ${shq(`${dir}/${API_KEY_FILE}`)} ] && echo yes || echo no`,
    'echo @@orgs',
    // Ids only: an organisation's members are none of infra's business.
    "a=$(dk_api GET /api/organization.all); printf '%s\\n' \"$a\" | sed '$d' | jq -c 'if type == \"array\" then map(.id) else . end' 2>/dev/null || true; printf '%s\\n' \"$a\" | tail -n1",
  ].join('\n');
}

export function parseApiKey(stdout: string): ApiKeyState {
  const s = sections(stdout);
  if (s.has('nojq')) return { jq: false, file: false, code: '000' };
  const { code, body } = answer(s.get('orgs'));
  let organizationId: string | undefined;
  try {
    const ids = JSON.parse(body || 'null');
    if (Array.isArray(ids) && typeof ids[0] === 'string') organizationId = ids[0];
  } catch {}
  return { jq: true, file: (s.get('file') ?? '').trim() === 'yes', code, organizationId };
}

/** Pure. A key Dokploy refuses (deleted in its UI) is replaced by a new one. */
export function diffApiKey(st: ApiKeyState, ownerEmail: string | undefined): Change[] {
  if (!st.jq) return [{ summary: "Dokploy's API needs jq on the host", kind: 'package-missing' }];
  if (!ownerEmail) return [];
  if (!st.file)
    return [
      {
        summary: `create Dokploy API key "${API_KEY_NAME}" for ${ownerEmail} (kept on the host, mode 600)`,
        kind: 'api-key-missing',
      },
    ];
  if (st.code === '000')
    return [{ summary: 'Dokploy is not answering on 127.0.0.1:3000', kind: 'dokploy-down' }];
  if (st.code !== '200' || !st.organizationId)
    return [
      {
        summary: `Dokploy refuses infra's API key (HTTP ${st.code}; deleted in Dokploy?): create a new one`,
        kind: 'api-key-refused',
        actual: st.code,
      },
    ];
  return [];
}

/**
 * Signs in as the owner (better-auth's /api/auth/sign-in/email, a cookie session), asks for the
 * owner's organisation, creates the key (user.createApiKey) and keeps only `.key`, atomically.
 * Nothing of the answer is ever printed: on failure, only the HTTP code.
 */
export function createApiKeyScript(dir: string, email: string, ownerFile: string): string {
  const f = shq(`${dir}/${API_KEY_FILE}`);
  const fail = (what: string) => `{ echo ${shq(`stack dokploy: ${what}`)}"$code" >&2; exit 1; }`;
  return [
    'set -e',
    'umask 077',
    'j=$(mktemp); k=$(mktemp); trap \'rm -f "$j" "$k"\' EXIT',
    `code=$(jq -nc --arg e ${shq(email)} --rawfile p ${shq(`${dir}/${ownerFile}`)} '{email: $e, password: ($p | rtrimstr("\\n"))}' | curl -s -m 20 -c "$j" -o /dev/null -w '%{http_code}' -H 'content-type: application/json' --data-binary @- ${BASE}/api/auth/sign-in/email) || code=000`,
    `[ "$code" = 200 ] || ${fail("the owner's sign-in was refused: HTTP ")}`,
    `org=$(curl -s -m 20 -b "$j" ${BASE}/api/organization.all | jq -r 'if type == "array" then .[0].id // empty else empty end') || org=''`,
    `[ -n "$org" ] || { code=none; ${fail('the owner has no organisation: ')}; }`,
    `o=$(jq -nc --arg o "$org" '{name: ${JSON.stringify(API_KEY_NAME)}, metadata: {organizationId: $o}}' | curl -s -m 20 -b "$j" -H 'content-type: application/json' --data-binary @- -w '\\n%{http_code}' ${BASE}/api/user.createApiKey) || o='\n000'`,
    'code=$(printf \'%s\\n\' "$o" | tail -n1)',
    `[ "$code" = 200 ] || ${fail('Dokploy refused to create an API key: HTTP ')}`,
    "printf '%s\\n' \"$o\" | sed '$d' | jq -j '.key // empty' > \"$k\"",
    `[ -s "$k" ] || { code=none; ${fail('no key in the answer of user.createApiKey: ')}; }`,
    `mv -f "$k" ${f}`,
  ].join('\n');
}

export function apiKeyTask(
  dir: string,
  ownerEmail: string | undefined,
  ownerFile: string,
  after: string[],
): Task<ApiKeyState> {
  return {
    id: 'stack:dokploy:api-key',
    after,
    probe: apiKeyProbe(dir),
    parse: parseApiKey,
    diff: (st) => diffApiKey(st, ownerEmail),
    apply: (st) => [
      {
        script:
          !st.jq || !ownerEmail
            ? "echo 'stack dokploy: jq is missing on the host' >&2; exit 1"
            : createApiKeyScript(dir, ownerEmail, ownerFile),
        timeoutMs: 90_000,
      },
    ],
  };
}
