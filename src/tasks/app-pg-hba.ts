import type { Change, Task } from '../engine/task.js';
import { shCmd, shq } from '../quote.js';
import { perApp } from './lib/parse.js';
import { composeExec, psqlBatchArgv } from './postgres-app.js';

/**
 * The ONE owner of infra's lines in each app's pg_hba.conf (docs/analytics.md, open question 1):
 * point-in-time recovery's and the analytics layer's lines form one marked block on top of the
 * file (pg_hba is first match wins: PostgreSQL 16-18, "The pg_hba.conf File"), written by this
 * task alone, so the two features never rewrite each other's lines. Every line of the block ends
 * with MARK; the lines PITR wrote before this block existed (`# infra-pitr`) are taken over.
 */
export const MARK = '# infra';
/** A line of the block; `# infra-pitr` marked PITR's two lines before the block existed. */
export const MARKED = '# infra(-pitr)?$';

export interface HbaState {
  up: boolean;
  file: string;
  /** Every marked line, in file order (marks stripped of nothing: as in the file). */
  marked: string[];
  /** How many lines at the top of the file are marked. */
  leading: number;
}

/** Pure: the block's lines as written, each ending with the mark. */
export const marked = (lines: readonly string[]) => lines.map((l) => `${l} ${MARK}`);

const SQL = `with f as (select l, n from unnest(regexp_split_to_array(pg_read_file(current_setting('hba_file')), E'\\n')) with ordinality as t(l, n))
select current_setting('hba_file'), coalesce((select string_agg(l, ';;' order by n) from f where l ~ '${MARKED}'), ''),
 coalesce((select min(n) from f where l !~ '${MARKED}'), (select count(*) + 1 from f)) - 1`;

const psql = (app: string, extra: string[]) => shCmd(psqlBatchArgv(app, ['-q', ...extra]));

/** Pure: the probe's one `|`-separated line, or anything else: the stack is not running. */
export function parseHba(out: string): HbaState {
  const f = out.trim().split('\n').at(-1)!.split('|');
  if (f.length !== 3 || !f[0]) return { up: false, file: '', marked: [], leading: 0 };
  return { up: true, file: f[0], marked: f[1] ? f[1].split(';;') : [], leading: Number(f[2]) };
}

/** Pure: the block is exactly `want`, on top, and no marked line is anywhere else. */
export function diffHba(app: string, want: readonly string[], s: HbaState): Change[] {
  if (!s.up) return [];
  const w = marked(want);
  if (s.marked.join('\n') === w.join('\n') && s.leading === w.length) return [];
  return [
    {
      summary: w.length
        ? `set infra's pg_hba lines of ${app} (one block on top: ${want.length} lines)`
        : `remove infra's pg_hba lines of ${app} (no feature uses them)`,
      kind: 'pg-hba',
      expected: w,
      actual: s.marked,
    },
  ];
}

/** Our block first, every unmarked line kept as it was; then reload. */
export function hbaScript(app: string, want: readonly string[], file: string): string {
  const inner = `f="$1"; shift; { [ "$#" -eq 0 ] || printf '%s\\n' "$@"; grep -Ev ${shq(MARKED)} "$f"; } > "$f.infra" && cat "$f.infra" > "$f" && rm -f "$f.infra"`;
  const exec = shCmd([...composeExec(app), '-T', '--user', 'postgres', 'db', 'sh', '-c', inner, 'sh', file]);
  return `${exec} ${marked(want)
    .map((l) => shq(l))
    .join(' ')}\n${psql(app, ['-c', 'select pg_reload_conf()'])} >/dev/null`;
}

export const hbaProbe = (app: string) => `${psql(app, ['-F', '|', '-c', SQL])} 2>/dev/null || echo down`;

/** Every app of one apps host: the lines each feature wants, in one task. */
export function appHbaTask(
  apps: readonly { app: string; lines: readonly string[] }[],
  after: string[] = [],
): Task<Record<string, HbaState>> {
  const down = parseHba('down');
  const diffAll = (m: Record<string, HbaState>) =>
    apps.flatMap((a) => diffHba(a.app, a.lines, m[a.app] ?? down));
  return {
    id: 'pg-hba',
    after,
    ...perApp(
      apps.map((a) => a.app),
      hbaProbe,
      parseHba,
    ),
    diff: diffAll,
    apply: (m) =>
      apps
        .filter((a) => diffHba(a.app, a.lines, m[a.app] ?? down).length)
        .map((a) => ({ script: hbaScript(a.app, a.lines, m[a.app]!.file) })),
  };
}
