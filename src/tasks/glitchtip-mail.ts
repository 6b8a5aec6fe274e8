import type { Change, Task } from '../engine/task.js';
import type { GlitchtipSettings } from '../inventory/types.js';
import { shq } from '../quote.js';
import { sha256 } from './cloudflared.js';
import { GLITCHTIP, MAIL_ENV } from './glitchtip.js';
import { atomicWrite } from './lib/file.js';
import { refusal } from './lib/refuse.js';
import { stackDir } from './stacks.js';

/**
 * GlitchTip's outgoing mail: compose's project `.env` beside the compose file, from which
 * compose fills EMAIL_URL of web and worker (named there without a value). The URL is a secret (SMTP credentials) from the operator's
 * environment (`glitchtip.email_url: env:NAME`); only its hash comes back from the host. Empty
 * when no mail is configured: GlitchTip then sends nothing (the `check` warning says so).
 *
 * Idempotency limit: without the secret in the environment (`check` needs none) the content is
 * not compared, only the file's presence and mode.
 */
export const mailEnvPath = () => `${stackDir(GLITCHTIP)}/${MAIL_ENV}`;

/** Pure: the .env content. Single quotes: compose takes the value literally (no `$`). */
export function mailEnvContent(gt: GlitchtipSettings | undefined): string | undefined {
  if (!gt?.emailUrlRef) return '';
  return gt.emailUrl ? `EMAIL_URL='${gt.emailUrl.reveal()}'\n` : undefined;
}

export type MailEnvState = { exists: false } | { exists: true; mode: string; sha256: string };

export const MAIL_PROBE = `f=${shq(mailEnvPath())}\nif [ -f "$f" ]; then echo "mode=$(stat -c %a "$f")"; echo "sha=$(sha256sum < "$f" | cut -d' ' -f1)"; else echo mode=MISSING; fi`;

export function parseMailEnv(stdout: string): MailEnvState {
  const kv = new Map(stdout.split('\n').map((l) => l.trim().split('=', 2) as [string, string]));
  const mode = kv.get('mode') ?? 'MISSING';
  return mode === 'MISSING' ? { exists: false } : { exists: true, mode, sha256: kv.get('sha') ?? '' };
}

export function diffMailEnv(gt: GlitchtipSettings | undefined, st: MailEnvState): Change[] {
  const path = mailEnvPath();
  const want = mailEnvContent(gt);
  const what = gt?.emailUrlRef ? `EMAIL_URL from ${gt.emailUrlRef}` : 'empty: glitchtip.email_url is not set';
  if (!st.exists) return [{ summary: `create ${path} (mode 600, ${what})`, kind: 'file-missing' }];
  const changes: Change[] = [];
  if (want !== undefined && st.sha256 !== sha256(want))
    changes.push({
      summary: `update ${path} (${what}; content hidden: it holds the SMTP credentials)`,
      kind: 'file-content',
    });
  if (st.mode !== '600')
    changes.push({
      summary: `chmod 600 ${path} (was ${st.mode})`,
      kind: 'file-mode',
      expected: '600',
      actual: st.mode,
    });
  return changes;
}

/**
 * Written atomically from stdin. Compose reads env files when it creates a container, so web and
 * worker, if they run, are recreated with the new file now; the stack's hash cache is dropped, so
 * the compose task (probed again after this one changed) compares compose's fresh hash.
 */
export function mailEnvScript(): string {
  const compose = `${stackDir(GLITCHTIP)}/compose.yaml`;
  return [
    'set -e',
    'umask 077',
    atomicWrite({ path: mailEnvPath(), mode: '600', mkdir: '700', tempPrefix: '.mail' }),
    `rm -f ${shq(`${stackDir(GLITCHTIP)}/.config-hash`)}`,
    `if [ -f ${shq(compose)} ] && [ -n "$(docker ps -q --filter label=com.docker.compose.project=${GLITCHTIP})" ]; then`,
    `  docker compose -p ${GLITCHTIP} -f ${shq(compose)} up -d --no-deps --force-recreate web worker`,
    'fi',
  ].join('\n');
}

export function glitchtipMailTask(gt: GlitchtipSettings | undefined, after: string[]): Task<MailEnvState> {
  return {
    id: `stack:${GLITCHTIP}:mail`,
    after,
    probe: MAIL_PROBE,
    parse: parseMailEnv,
    diff: (st) => diffMailEnv(gt, st),
    apply: () => {
      const content = mailEnvContent(gt);
      if (content === undefined) {
        const why = `the SMTP URL is not set: export ${gt?.emailUrlRef?.slice(4)} (glitchtip.email_url)`;
        return [refusal(why)];
      }
      return [{ script: mailEnvScript(), stdin: content, timeoutMs: 300_000 }];
    },
  };
}

/** Pure: what `check` and `apply` say about GlitchTip's mail, whatever the host's state. */
export function glitchtipWarnings(gt: GlitchtipSettings | undefined): string[] {
  if (!gt || gt.emailUrlRef) return [];
  return [
    'warning: GlitchTip has no outgoing mail (glitchtip.email_url is not set): alerts, invitations and password resets are never sent',
  ];
}
