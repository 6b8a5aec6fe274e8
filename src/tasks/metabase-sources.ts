import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { ANALYTICS } from './analytics-stack.js';
import { sections } from './lib/parse.js';
import { refusal } from './lib/refuse.js';
import { METABASE_WAIT_SEC, metabaseDir } from './metabase.js';
import { answer, apiHelpers, jsonOf } from './metabase-api.js';

/**
 * The data sources infra registers in Metabase, as the read-only role (docs/analytics.md (f)):
 * `analytics` (nightly, replication) or one per app (direct). src/metabase/warehouses/api.clj
 * (v0.64.1; docs/lab.md names the snapshot): `GET /api/database` → `{data: [...], total}`, the
 * details' password replaced by `**MetabasePass**`; `POST /api/database {name, engine, details}`
 * tests the connection (SSL first, then as given) and answers 400 with the error when neither
 * connects; `PUT /api/database/:id` merges the details over the stored ones and tests them only
 * when they changed. Matched by name. Since answers carry the mask, infra re-sends the details
 * when host/port/dbname/user differ, or when the password file's sha256 differs from the one
 * recorded when it last sent it. Every other source, and everything else in Metabase, is
 * Metabase's own: never drift. Reading needs a session: the probe logs in and out (no write to
 * any source; Metabase keeps a session row meanwhile).
 */
export interface SourceWant {
  name: string;
  host: string;
  port: number;
  dbname: string;
  user: string;
  /** direct: the apps host whose run has not made the role yet (Metabase would refuse: 400). */
  waitsFor?: string;
}

export interface SourceSeen extends SourceWant {
  id: number;
  engine: string;
}

export interface SourcesState {
  /** POST /api/session's HTTP code: 200, 401 (password refused), 503 (initialising), 000 (down). */
  login: string;
  sources?: SourceSeen[];
  /** sha256 of the read-only role's password file, or null when it is missing. */
  password: string | null;
  /** name -> sha256 of the password last sent for it. */
  sent: Record<string, string>;
}

export const SOURCES_TASK = `stack:${ANALYTICS}:metabase-sources`;
export const sentFile = () => `${metabaseDir()}/metabase_sources.sent`;

const SAFE = /^[A-Za-z0-9._-]+$/;
function check(w: SourceWant): void {
  for (const v of [w.name, w.host, w.dbname, w.user])
    if (!SAFE.test(v)) throw new Error(`bad Metabase data source value ${JSON.stringify(v)}`);
  if (!Number.isInteger(w.port)) throw new Error(`bad port ${w.port}`);
}

export function sourcesProbe(email: string, passwordFile: string): string {
  return [
    apiHelpers(),
    `mb_login ${shq(email)}`,
    'echo @@login',
    'echo "$mb_code"',
    'echo @@dbs',
    'if [ -n "$mb_sid" ]; then mb_api GET /api/database; mb_logout; fi',
    'echo @@password',
    `if [ -s ${shq(passwordFile)} ]; then sha256sum < ${shq(passwordFile)} | cut -c1-64; fi`,
    'echo @@sent',
    `cat ${shq(sentFile())} 2>/dev/null || true`,
  ].join('\n');
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

export function parseSources(stdout: string): SourcesState {
  const s = sections(stdout);
  const login = (s.get('login') ?? '').trim() || '000';
  const dbs = answer(s.get('dbs'));
  const json = dbs.code === '200' ? (jsonOf(dbs.body) as { data?: unknown[] } | undefined) : undefined;
  const sources = Array.isArray(json?.data)
    ? json.data.map((raw) => {
        const d = raw as { id: number; name: unknown; engine: unknown; details?: Record<string, unknown> };
        const det = d.details ?? {};
        return {
          id: d.id,
          name: str(d.name),
          engine: str(d.engine),
          host: str(det.host),
          port: Number(det.port ?? 5432),
          dbname: str(det.dbname),
          user: str(det.user),
        };
      })
    : undefined;
  const sent: Record<string, string> = {};
  for (const line of (s.get('sent') ?? '').split('\n')) {
    const [name, sha] = line.trim().split(/\s+/);
    if (name && sha) sent[name] = sha;
  }
  const password = (s.get('password') ?? '').trim();
  return { login, sources, password: /^[0-9a-f]{64}$/.test(password) ? password : null, sent };
}

const describe = (w: Pick<SourceWant, 'host' | 'port' | 'dbname' | 'user'>) =>
  `${w.user}@${w.host}:${w.port}/${w.dbname}`;

/** Pure: what to send, per source: `add`, `update` (with Metabase's id), or nothing. */
export function plannedSources(want: readonly SourceWant[], st: SourcesState): Change[] {
  if (!st.sources) {
    const why = st.login === '401' ? 'the admin password was refused' : `Metabase answered ${st.login}`;
    return want.map((w) => ({
      summary: `register Metabase data source ${w.name} (${describe(w)}; cannot list them now: ${why})`,
      kind: 'metabase-source-missing',
      expected: describe(w),
      actual: null,
    }));
  }
  const changes: Change[] = [];
  for (const w of want) {
    const seen = st.sources.filter((x) => x.name === w.name).sort((a, b) => a.id - b.id)[0];
    if (!seen) {
      changes.push({
        summary: `register Metabase data source ${w.name} (${describe(w)})`,
        kind: 'metabase-source-missing',
        expected: describe(w),
        actual: null,
      });
    } else if (seen.engine !== 'postgres' || describe(seen) !== describe(w)) {
      changes.push({
        summary: `Metabase data source ${w.name} connects as ${describe(seen)}, not ${describe(w)}`,
        kind: 'metabase-source-differs',
        expected: describe(w),
        actual: `${seen.engine} ${describe(seen)}`,
      });
    } else if (st.password && st.sent[w.name] !== st.password) {
      changes.push({
        summary: `send ${w.user}'s password to Metabase data source ${w.name} (${st.sent[w.name] ? 'it changed since it was sent' : 'not sent by infra yet'})`,
        kind: 'metabase-source-password',
      });
    }
  }
  return changes;
}

/** Shell: logs in, POSTs or PUTs each source that needs it, records the password's hash, logs out. */
export function sendScript(
  email: string,
  passwordFile: string,
  sends: readonly { want: SourceWant; id?: number }[],
): string {
  const pw = shq(passwordFile);
  const rec = shq(sentFile());
  const lines = [
    apiHelpers(),
    `[ -s ${pw} ] || { echo "${passwordFile} is missing" >&2; exit 1; }`,
    `end=$(( $(date +%s) + ${METABASE_WAIT_SEC} ))`,
    `until mb_login ${shq(email)}; [ -n "$mb_sid" ]; do`,
    '  [ "$mb_code" != 401 ] || { echo "Metabase refused the admin password (POST /api/session 401)" >&2; exit 1; }',
    '  [ "$(date +%s)" -lt "$end" ] || { echo "Metabase does not answer POST /api/session ($mb_code)" >&2; exit 1; }',
    '  sleep 2',
    'done',
    'trap mb_logout EXIT',
    `sha=$(sha256sum < ${pw} | cut -c1-64)`,
    'umask 077',
  ];
  for (const { want: w, id } of sends) {
    check(w);
    const body = `{"name":"${w.name}","engine":"postgres","details":{"host":"${w.host}","port":${w.port},"dbname":"${w.dbname}","user":"${w.user}","password":"%s","ssl":false}}`;
    const call = id === undefined ? 'POST /api/database' : `PUT /api/database/${id}`;
    lines.push(
      `r=$(printf ${shq(body)} "$(cat ${pw})" | mb_api ${call})`,
      'code=$(printf \'%s\\n\' "$r" | tail -n1)',
      `[ "$code" = 200 ] || { echo "Metabase refused data source ${w.name} (${call}: $code): $(printf '%s\\n' "$r" | sed '$d')" >&2; exit 1; }`,
      `{ grep -v ${shq(`^${w.name} `)} ${rec} 2>/dev/null || true; echo ${shq(w.name)} "$sha"; } > ${rec}.tmp && mv -f ${rec}.tmp ${rec}`,
    );
  }
  return lines.join('\n');
}

export function metabaseSourcesTask(
  want: { email: string; passwordFile: string; sources: readonly SourceWant[] },
  after: string[] = [],
): Task<SourcesState> {
  const { email, passwordFile, sources } = want;
  sources.forEach(check);
  return {
    id: SOURCES_TASK,
    after,
    probe: sourcesProbe(email, passwordFile),
    parse: parseSources,
    diff: (st) => plannedSources(sources, st),
    // direct: a source whose app has no analytics_ro yet would be refused; the whole task waits
    // (one apps host run makes every role of that host) rather than register half of them.
    wait: (st) => {
      const host = sources.find((w) => w.waitsFor && plannedSources([w], st).length)?.waitsFor;
      return host ? { on: host, run: `infra apply ${host}` } : undefined;
    },
    apply: (st) => {
      if (!st.sources) {
        // Without the list, a POST could make a second source of the same name.
        const why =
          st.login === '401' ? 'it refused the admin password' : `POST /api/session answered ${st.login}`;
        return [refusal(`cannot list Metabase's data sources (${why}); see infra logs analytics/metabase`)];
      }
      const seen = st.sources;
      const sends = sources
        .filter((w) => plannedSources([w], st).length > 0)
        .map((w) => ({
          want: w,
          id: seen.filter((x) => x.name === w.name).sort((a, b) => a.id - b.id)[0]?.id,
        }));
      return [
        { script: sendScript(email, passwordFile, sends), timeoutMs: (METABASE_WAIT_SEC + 120) * 1000 },
      ];
    },
  };
}
