import type { Task } from '../engine/task.js';
import { shCmd } from '../quote.js';
import { analyticsPsqlArgv, sqlIdent } from './analytics-stack.js';
import { subName } from './analytics-subscriber-state.js';

const anPsql = (db: string, extra: readonly string[] = []) => shCmd(analyticsPsqlArgv(db, extra));

/**
 * Subscriptions of apps this mode does not replicate (a mode switch, an app left out): dropped,
 * which drops their slot on the app (DROP SUBSCRIPTION, 16-18); an app that does not answer keeps
 * its slot (disabled, slot_name NONE, dropped here) and the apps host's run drops it there. Their
 * databases go with them; wal_level stays logical on the apps.
 */
export function unsubscribeTask(keep: readonly string[], after: string[]): Task<string[]> {
  const want = new Set(keep.map(subName));
  const list = `select s.subname || '|' || d.datname from pg_subscription s join pg_database d on d.oid = s.subdbid where s.subname like 'analytics\\_%'`;
  return {
    id: 'analytics:unsubscribe',
    after,
    probe: `${anPsql('postgres', ['-c', list])} 2>/dev/null || true`,
    parse: (out) =>
      out
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /^analytics_[a-z0-9_]+\|[a-z0-9_]+$/.test(l) && !want.has(l.split('|')[0]!)),
    diff: (subs) =>
      subs.map((x) => ({
        kind: 'analytics-subscription-orphan',
        summary: `drop the subscription ${x.split('|')[0]} and its database ${x.split('|')[1]} (not replicated in this mode)`,
      })),
    apply: (subs) =>
      subs.flatMap((x) => {
        const [sub, db] = x.split('|') as [string, string];
        return [
          {
            script: `${anPsql(db, ['-c', `drop subscription ${sub}`])} >/dev/null 2>&1 || { ${anPsql(db, ['-c', `alter subscription ${sub} disable`])} && ${anPsql(db, ['-c', `alter subscription ${sub} set (slot_name = none)`])} && ${anPsql(db, ['-c', `drop subscription ${sub}`])}; }`,
            timeoutMs: 120_000,
          },
          {
            script: `${anPsql('postgres', ['-c', `select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db}'`])} >/dev/null; ${anPsql('postgres', ['-c', `drop database if exists ${sqlIdent(db)}`])}`,
          },
        ];
      }),
  };
}
