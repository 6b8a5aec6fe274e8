import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { ANALYTICS_DIR, roPasswordFile } from './analytics-stack.js';
import { generateOnce } from './lib/secret.js';
import { parseVerifiers, VERIFIER_PY } from './pitr.js';

/**
 * The analytics host's passwords for the roles it logs in as on the apps (docs/analytics.md (c),
 * (e)): per app the replication role `infra_analytics` (its subscription's connection), and the
 * read-only role `analytics_ro` (direct mode: Metabase's connection to each app). Made here, once;
 * only their SCRAM verifiers leave the host (learned, then stored as is on the apps: PITR's scheme,
 * tasks/pitr.ts).
 */
export const REPL_DIR = `${ANALYTICS_DIR}/replication`;
export const replPasswordPath = (app: string) => `${REPL_DIR}/${app}.password`;
const replVerifierPath = (app: string) => `${REPL_DIR}/${app}.verifier`;
/** direct: the apps' analytics_ro has the analytics instance's analytics_ro password (its stack secret). */
const RO_VERIFIER_PATH = `${REPL_DIR}/analytics_ro.verifier`;
const RO_KEY = '@analytics_ro';

/** Shell: the password (once) and its verifier (once per password). */
function secretScript(password: string, verifier: string): string {
  const v = shq(verifier);
  return [
    'set -e',
    "command -v python3 >/dev/null 2>&1 || { echo 'python3 is needed to make a password verifier: apt-get install python3-minimal' >&2; exit 1; }",
    `mkdir -p ${shq(REPL_DIR)} && chmod 700 ${shq(ANALYTICS_DIR)} ${shq(REPL_DIR)}`,
    // A password made anew (or the stack's secret rotated) gets a new verifier.
    `[ -s ${shq(password)} ] && [ ! ${shq(password)} -nt ${v} ] || rm -f ${v}`,
    generateOnce(password, 40),
    `[ -s ${v} ] || { python3 -c ${shq(VERIFIER_PY)} ${shq(password)} > ${v}.tmp && mv -f ${v}.tmp ${v}; }`,
  ].join('\n');
}

export interface AnalyticsVerifiers {
  repl?: Record<string, string>;
  ro?: string;
}

/** The secrets the mode needs: replication, one per app; direct, analytics_ro's. */
export function analyticsSecretsTask(
  o: { mode: 'replication' | 'direct'; apps: readonly string[] },
  after: string[] = [],
): Task<Record<string, string | null>> {
  const files: [string, string, string][] =
    o.mode === 'replication'
      ? o.apps.map((a) => [a, replPasswordPath(a), replVerifierPath(a)])
      : [[RO_KEY, roPasswordFile, RO_VERIFIER_PATH]];
  return {
    id: 'analytics:secrets',
    after,
    probe:
      files
        .map(
          ([k, p, v]) =>
            `printf '%s %s\\n' ${shq(k)} "$( [ -s ${shq(p)} ] && cat ${shq(v)} 2>/dev/null || echo missing)"`,
        )
        .join('\n') || 'true',
    parse: parseVerifiers,
    diff: (m): Change[] =>
      files
        .filter(([k]) => !m[k])
        .map(([k]) => ({
          summary: `generate the password of ${k === RO_KEY ? 'the read-only role analytics_ro' : `${k}'s replication role`} (once, on this host; only its verifier leaves it)`,
          kind: 'secret-missing',
        })),
    apply: (m) => files.filter(([k]) => !m[k]).map(([, p, v]) => ({ script: secretScript(p, v) })),
    learn: (m): { analyticsVerifiers?: AnalyticsVerifiers } => {
      const known = Object.entries(m).filter((e): e is [string, string] => !!e[1]);
      if (!known.length) return {};
      const ro = known.find(([k]) => k === RO_KEY)?.[1];
      const repl = Object.fromEntries(known.filter(([k]) => k !== RO_KEY));
      return { analyticsVerifiers: o.mode === 'direct' ? { ro } : { repl } };
    },
  };
}
