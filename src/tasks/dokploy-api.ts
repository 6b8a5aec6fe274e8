import { createHash } from 'node:crypto';
import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import type { Secret } from '../secrets.js';
import { atomicWrite, scratchFile, tempBeside } from './lib/file.js';
import { sections } from './lib/parse.js';

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
    `  ${scratchFile('h')} && printf 'x-api-key: %s\\n' "$(cat ${key})" > "$h" || return 1`,
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
  /** sha256 of the key file (only a hash leaves the host). */
  sha?: string;
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
    'echo @@sha',
    `sha256sum < ${shq(`${dir}/${API_KEY_FILE}`)} 2>/dev/null | cut -d' ' -f1`,
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
  const sha = (s.get('sha') ?? '').trim() || undefined;
  return { jq: true, file: (s.get('file') ?? '').trim() === 'yes', sha, code, organizationId };
}

/** The key the inventory gives (`dokploy.api_key`): its reference, and its value when loaded. */
export interface GivenKey {
  ref: string;
  value?: Secret;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');

/**
 * Pure. infra's own key, refused by Dokploy (deleted in its UI), is replaced by a new one; a key
 * the inventory gives is written to the host (compared by hash; not at all without the secret).
 */
export function diffApiKey(st: ApiKeyState, ownerEmail: string | undefined, given?: GivenKey): Change[] {
  if (!st.jq) return [{ summary: "Dokploy's API needs jq on the host", kind: 'package-missing' }];
  if (given) {
    const where = `dokploy.api_key (${given.ref})`;
    if (!st.file || (given.value && st.sha !== sha256(given.value.reveal())))
      return [
        {
          summary: `${st.file ? 'update' : 'write'} the Dokploy API key given as ${where} on the host (content hidden)`,
          kind: st.file ? 'file-content' : 'file-missing',
        },
      ];
    if (st.code === '200' && st.organizationId) return [];
    return [
      {
        summary: `Dokploy refuses the API key given as ${where} (HTTP ${st.code}): make one for the owner's organisation in Dokploy (Settings, API keys)`,
        kind: 'api-key-refused',
        actual: st.code,
      },
    ];
  }
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
  const fail = (what: string) => `{ echo ${shq(`stack dokploy: ${what}`)}"$code" >&2; exit 1; }`;
  return [
    'set -e',
    'umask 077',
    `${scratchFile('j')}; ${scratchFile('k')}; trap 'rm -f "$j" "$k"' EXIT`,
    `code=$(jq -nc --arg e ${shq(email)} --rawfile p ${shq(`${dir}/${ownerFile}`)} '{email: $e, password: ($p | rtrimstr("\\n"))}' | curl -s -m 20 -c "$j" -o /dev/null -w '%{http_code}' -H 'content-type: application/json' --data-binary @- ${BASE}/api/auth/sign-in/email) || code=000`,
    `[ "$code" = 200 ] || ${fail("the owner's sign-in was refused: HTTP ")}`,
    `org=$(curl -s -m 20 -b "$j" ${BASE}/api/organization.all | jq -r 'if type == "array" then .[0].id // empty else empty end') || org=''`,
    `[ -n "$org" ] || { code=none; ${fail('the owner has no organisation: ')}; }`,
    `o=$(jq -nc --arg o "$org" '{name: ${JSON.stringify(API_KEY_NAME)}, metadata: {organizationId: $o}}' | curl -s -m 20 -b "$j" -H 'content-type: application/json' --data-binary @- -w '\\n%{http_code}' ${BASE}/api/user.createApiKey) || o='\n000'`,
    'code=$(printf \'%s\\n\' "$o" | tail -n1)',
    `[ "$code" = 200 ] || ${fail('Dokploy refused to create an API key: HTTP ')}`,
    "printf '%s\\n' \"$o\" | sed '$d' | jq -j '.key // empty' > \"$k\"",
    `[ -s "$k" ] || { code=none; ${fail('no key in the answer of user.createApiKey: ')}; }`,
    // Beside the key file, so the replace is one rename (the scratch file sits in /tmp).
    atomicWrite({ path: `${dir}/${API_KEY_FILE}`, mode: '600', source: 'cat "$k" > "$tmp"' }),
  ].join('\n');
}

/** Writes the given key (on stdin) atomically, mode 600; Dokploy must accept it (the re-probe). */
export function writeApiKeyScript(dir: string, ref: string): string {
  const f = shq(`${dir}/${API_KEY_FILE}`);
  return [
    'set -e',
    'umask 077',
    `mkdir -p ${shq(dir)}`,
    tempBeside(`${dir}/${API_KEY_FILE}`),
    'cat > "$tmp"',
    `if cmp -s "$tmp" ${f}; then rm -f "$tmp"; echo ${shq(`stack dokploy: Dokploy refuses the API key given as dokploy.api_key (${ref})`)} >&2; exit 1; fi`,
    `mv -f "$tmp" ${f}`,
  ].join('\n');
}

export function dokployApiKeyTask(
  want: { dir: string; ownerEmail: string | undefined; ownerFile: string; given?: GivenKey },
  after: string[] = [],
): Task<ApiKeyState> {
  const { dir, ownerEmail, ownerFile, given } = want;
  return {
    id: 'stack:dokploy:api-key',
    after,
    probe: apiKeyProbe(dir),
    parse: parseApiKey,
    diff: (st) => diffApiKey(st, ownerEmail, given),
    apply: (st) =>
      given
        ? [
            given.value
              ? { script: writeApiKeyScript(dir, given.ref), stdin: given.value.reveal() }
              : {
                  script: `echo ${shq(`stack dokploy: ${given.ref} is not set (dokploy.api_key)`)} >&2; exit 1`,
                },
          ]
        : [
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
