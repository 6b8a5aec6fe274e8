import type { AnyTask, Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { fileTask } from './file.js';
import { timerUnit } from './lib/systemd.js';
import {
  BACKUP_SCRIPT,
  BACKUP_SCRIPT_PATH,
  backupDir,
  runBackupScript,
  STALE_AFTER_SEC,
} from './pg-backup.js';
import { serviceTask } from './service.js';

export const unitName = (app: string) => `infra-pg-backup-${app}`;

export function backupServiceUnit(app: string, retentionDays: number): string {
  return `# Installed by infra: nightly dump of ${app}'s PostgreSQL (infra backup ${app} runs the same script).
[Unit]
Description=infra: back up the PostgreSQL of ${app}
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${runBackupScript(app, retentionDays)}
`;
}

export function backupTimerUnit(app: string): string {
  return timerUnit({
    description: `nightly backup of ${app}'s PostgreSQL`,
    onCalendar: '*-*-* 02:30:00',
    randomizedDelay: '30m',
  });
}

/** The script shared by every app of the host (one task per host). */
export function backupScriptTask(after: string[]): Task {
  return fileTask({ path: BACKUP_SCRIPT_PATH, content: BACKUP_SCRIPT, mode: '755' }, after);
}

/** The unit files and the enabled, active timer of one app. */
/** An app's dumps: the nightly `infra-pg-backup APP DAYS` keeps `retentionDays` of them. */
export interface AppBackups {
  app: string;
  retentionDays: number;
}

export function backupTimerTasks(want: AppBackups, after: string[] = []): AnyTask[] {
  const { app, retentionDays } = want;
  const unit = unitName(app);
  const reload = 'systemctl daemon-reload';
  const service = fileTask(
    {
      path: `/etc/systemd/system/${unit}.service`,
      content: backupServiceUnit(app, retentionDays),
      mode: '644',
      onChange: reload,
    },
    after,
  );
  const timer = fileTask(
    {
      path: `/etc/systemd/system/${unit}.timer`,
      content: backupTimerUnit(app),
      mode: '644',
      onChange: reload,
    },
    after,
  );
  return [service, timer, serviceTask(`${unit}.timer`, [service.id, timer.id])];
}

export type Freshness = { ageSec: number; name: string } | null;

export function parseFreshness(out: string): Freshness {
  const [age, name] = out.trim().split(' ');
  if (!age || !name || !/^\d+$/.test(age)) return null;
  return { ageSec: Number(age), name };
}

/** Pure: missing or older than 26 h is stale; apply takes a backup now. */
export function diffFreshness(app: string, f: Freshness): Change[] {
  if (!f)
    return [
      {
        summary: `take the first backup of ${app} (none on the host)`,
        kind: 'backup-stale',
        expected: '< 26h',
        actual: null,
      },
    ];
  if (f.ageSec <= STALE_AFTER_SEC) return [];
  const hours = Math.floor(f.ageSec / 3600);
  return [
    {
      summary: `back up ${app} now: the newest backup is ${hours} h old (${f.name}; is ${unitName(app)}.timer running?)`,
      kind: 'backup-stale',
      expected: '< 26h',
      actual: `${hours}h`,
    },
  ];
}

export function backupFreshnessTask(want: AppBackups, after: string[] = []): Task<Freshness> {
  const { app, retentionDays } = want;
  const d = shq(backupDir(app));
  return {
    id: `app:${app}:backup`,
    after,
    probe: `f=$(ls -1t ${d}/${shq(app)}-*.dump 2>/dev/null | head -n 1)\n[ -n "$f" ] && echo "$(( $(date +%s) - $(stat -c %Y "$f") )) $(basename "$f")" || echo none`,
    parse: parseFreshness,
    diff: (f) => diffFreshness(app, f),
    apply: () => [{ script: runBackupScript(app, retentionDays), timeoutMs: 60 * 60_000 }],
  };
}
