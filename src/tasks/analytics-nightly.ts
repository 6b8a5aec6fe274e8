import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Change, Task } from '../engine/task.js';
import { PACKAGE_ROOT } from '../paths.js';
import { shCmd, shq } from '../quote.js';
import { sqlName } from './analytics-stack.js';
import { type InstanceState, instanceProbe, parseInstance } from './analytics-state.js';
import { copiesDir } from './backup-pull.js';
import { probeFields, probes } from './lib/probe.js';
import { timerUnit } from './lib/systemd.js';

/**
 * `nightly` (docs/analytics.md (b)): the control host already holds each app's nightly dump (the
 * pull's copies); the sync restores the newest into a new database and swaps the app's foreign
 * server to it (templates/analytics/sync.sh). The app is read once per night, by its own dump.
 */
export const SYNC_SCRIPT_PATH = '/usr/local/sbin/infra-analytics-sync';
export const SYNC_SCRIPT = readFileSync(path.join(PACKAGE_ROOT, 'templates/analytics/sync.sh'), 'utf8');
export const SYNC_CONF = '/etc/infra/analytics/apps.conf';
export const SYNC_UNIT = 'infra-analytics-sync';
export const SYNCED_DIR = '/var/lib/infra-analytics';
/** Why the last sync of an app failed (tmpfs: writable when the disk is full, as the pull's). */
export const SYNC_FAILED_DIR = '/run/infra-analytics';
/** A last successful sync older than this is stale: nightly plus slack (docs/analytics.md (g)). */
export const SYNC_STALE_AFTER_SEC = 26 * 3600;

/** Pure: the timer's list, one app a line. */
export const syncConf = (apps: readonly string[]) =>
  `# Installed by infra: the apps the nightly analytics sync restores, in order.\n${apps.map((a) => `${a}\n`).join('')}`;

export const syncServiceUnit = `# Installed by infra: restore every included app's newest copy into the analytics layer (docs/analytics.md).
[Unit]
Description=infra: nightly sync of the analytics layer
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${SYNC_SCRIPT_PATH}
`;

/** At `analytics.sync_time`, host time (after the pull at 04:30 + up to 15 min); a missed run is made up at boot. */
export const syncTimerUnit = (time: string) =>
  timerUnit({ description: 'nightly sync of the analytics layer', onCalendar: `*-*-* ${time}:00` });

export const runSyncScript = (app: string) => shCmd([SYNC_SCRIPT_PATH, app]);

export interface SyncState {
  instance: InstanceState;
  /** The newest counted copy's name, or null. */
  copy: string | null;
  /** `/var/lib/infra-analytics/APP.synced`: the stamp served and when it was recorded. */
  synced: { stamp: string; atSec: number } | null;
  /** `/run/infra-analytics/APP.failed`: `time reason`. */
  failed: string | null;
  nowSec: number;
}

export function syncProbe(app: string): string {
  const d = shq(copiesDir(app));
  return probes(
    `echo "synced $(cat ${shq(`${SYNCED_DIR}/${app}.synced`)} 2>/dev/null)"`,
    `echo "failed $(head -n 1 ${shq(`${SYNC_FAILED_DIR}/${app}.failed`)} 2>/dev/null)"`,
    `echo "copy $(ls -1 ${d} 2>/dev/null | grep -E ${shq(`^${app}-[0-9]{8}T[0-9]{6}Z\\.dump\\.sha256$`)} | sort | tail -n 1 | sed 's/\\.sha256$//')"`,
    'echo "now $(date +%s)"',
    instanceProbe,
  ).script;
}

export function parseSync(out: string): SyncState {
  const field = (tag: string) => {
    const l = out.split('\n').find((x) => x.startsWith(`${tag} `) || x === tag);
    return l === undefined ? '' : l.slice(tag.length + 1).trim();
  };
  const s = /^(\S+) \S+ (\d+)$/.exec(field('synced'));
  return {
    instance: parseInstance(out),
    copy: field('copy') || null,
    synced: s ? { stamp: s[1]!, atSec: Number(s[2]) } : null,
    failed: field('failed') || null,
    nowSec: Number(field('now')) || 0,
  };
}

/** Pure: the database a copy of `app` restores into: APP_<stamp>, lowercase (at most 48 bytes). */
export const copyDb = (app: string, copy: string) =>
  `${sqlName(app)}_${copy.slice(app.length + 1, -'.dump'.length).toLowerCase()}`;
const isCopyDb = (app: string, db: string) => new RegExp(`^${sqlName(app)}_\\d{8}t\\d{6}z$`).test(db);

/** Pure: where the app's server points (null: no server, or not at a copy yet). */
export function servedCopy(app: string, s: InstanceState): string | null {
  const db = s.servers[sqlName(app)]?.options.dbname;
  return db && isCopyDb(app, db) ? db : null;
}

/** Pure: the findings of one app's nightly sync. */
export function diffSync(app: string, s: SyncState): Change[] {
  const inst = s.instance;
  if (!inst.up || !inst.servers[sqlName(app)]) return []; // the instance's task reports these
  const served = servedCopy(app, inst);
  const out: Change[] = [];
  if (!served)
    out.push({
      summary: s.copy
        ? `restore ${app}'s newest copy (${s.copy}) into the analytics layer`
        : `${app} has no data in the analytics layer, and no copy of its dump on this host yet`,
      kind: 'analytics-app-missing',
      expected: s.copy,
      actual: null,
    });
  else if (s.failed)
    out.push({
      summary: `the last analytics sync of ${app} failed (${s.failed}); ${served} still serves`,
      kind: 'analytics-sync-failed',
      actual: s.failed,
    });
  else if (!s.synced || s.nowSec - s.synced.atSec > SYNC_STALE_AFTER_SEC) {
    const h = s.synced ? `${Math.floor((s.nowSec - s.synced.atSec) / 3600)} h ago` : 'never recorded';
    out.push({
      summary: `the last successful analytics sync of ${app} was ${h} (limit 26 h); its data is the dump ${s.synced?.stamp ?? served}`,
      kind: 'analytics-sync-stale',
      expected: '< 26h',
      actual: h,
    });
  }
  const old = Object.keys(inst.dbs).filter((db) => isCopyDb(app, db) && db !== served);
  if (old.length)
    out.push({
      summary: `drop ${app}'s old cop${old.length > 1 ? 'ies' : 'y'} ${old.sort().join(', ')} (the server does not point at ${old.length > 1 ? 'them' : 'it'})`,
      kind: 'analytics-old-copy',
      actual: old,
    });
  return out;
}

/** One app's copy in the analytics layer: apply runs the sync (which also drops old copies). */
export function analyticsSyncTask(app: string, after: string[] = []): Task<SyncState> {
  return {
    id: `analytics-sync:${app}`,
    after,
    ...probeFields({ script: syncProbe(app), reads: instanceProbe.reads }),
    parse: parseSync,
    diff: (s) => diffSync(app, s),
    apply: () => [{ script: runSyncScript(app), timeoutMs: 60 * 60_000 }],
    // Nothing to restore yet: the pull (or `infra backup APP`) brings the first copy.
    wait: (s) =>
      !s.copy && !servedCopy(app, s.instance)
        ? { on: `a copy of ${app}`, run: `infra analytics sync ${app}` }
        : undefined,
  };
}
