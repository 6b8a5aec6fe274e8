import type { App } from '../inventory/types.js';
import { shCmd, shq } from '../quote.js';
import { backupDir, listBackupsScript, parseBackupList, STALE_AFTER_SEC } from './pg-backup.js';
import { psqlArgv } from './postgres-app.js';
import { TAILNET_VARS_PROBE } from './stacks.js';

/**
 * `infra status`: read-only facts about a host, as probes for the one batch round trip
 * (src/engine/batch.ts) and pure parsers. Nothing here changes anything on the host.
 */

export const REBOOT_REQUIRED = '/var/run/reboot-required';

/** OS release, kernel, uptime, reboot flag, tailnet address, memory: `key=value` lines. */
export const FACTS_PROBE = [
  `. /etc/os-release 2>/dev/null; printf 'os=%s\\n' "\${PRETTY_NAME:-unknown}"`,
  `printf 'kernel=%s\\n' "$(uname -r)"`,
  `printf 'uptime=%s\\n' "$(cut -d' ' -f1 /proc/uptime)"`,
  // Written by Debian/Ubuntu package maintainer scripts (update-notifier-common's convention);
  // the .pkgs file beside it names the packages that asked for the reboot.
  `if [ -f ${REBOOT_REQUIRED} ]; then echo reboot=yes; else echo reboot=no; fi`,
  `[ -f ${REBOOT_REQUIRED}.pkgs ] && printf 'rebootpkgs=%s\\n' "$(sort -u ${REBOOT_REQUIRED}.pkgs | tr '\\n' ' ')"`,
  TAILNET_VARS_PROBE,
  `awk '/^(MemTotal|MemAvailable|SwapTotal|SwapFree):/ { sub(":", "", $1); print "mem." $1 "=" $2 }' /proc/meminfo`,
  'true',
].join('\n');

/**
 * Pending security upgrades, from apt's own simulation against the package lists the host
 * already has (no download, no lock: `Debug::NoLocking`): a second at most, where
 * `unattended-upgrade --dry-run` takes many and writes its log. Each `Inst` line names the
 * archive it comes from, e.g. `Inst perl [5.36.0-7+deb12u2] (5.36.0-7+deb12u4
 * Debian-Security:12/oldstable-security [amd64])` (apt-pkg/algorithms.cc, pkgSimulate); the
 * lists' age says how fresh the answer is (unattended-upgrades refreshes them daily).
 */
export const SECURITY_PROBE = [
  'command -v apt-get >/dev/null 2>&1 || { echo noapt; exit 0; }',
  `printf 'lists=%s\\n' "$(stat -c %Y /var/lib/apt/lists/*Release 2>/dev/null | sort -n | tail -n1)"`,
  `apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>/dev/null | awk '/^Inst / && /-security/ { print "pkg=" $2 }'`,
].join('\n');

/** The directories whose filesystem usage is shown: `/`, Docker's data root, the backups. */
export function diskProbe(backups: string): string {
  return [
    `docker_root=$(docker info -f '{{.DockerRootDir}}' 2>/dev/null || true)`,
    `for p in / "\${docker_root:-/var/lib/docker}" ${shq(backups)}; do`,
    '  [ -d "$p" ] || continue',
    `  df -P -k "$p" | awk -v p="$p" 'NR == 2 { print p, $6, $2, $3, $4 }'`,
    'done',
  ].join('\n');
}

/** One app's PostgreSQL: version and database size (psql in its container), then its backups. */
export function appProbe(app: string): string {
  // The size first: Debian's server_version has spaces ("18.1 (Debian 18.1-1.pgdg13+1)").
  const psql = shCmd(
    psqlArgv(
      app,
      "SELECT 'pg=' || pg_database_size(current_database()) || ' ' || current_setting('server_version')",
    ),
  );
  return [`${psql} 2>&1 | sed -n 's/^pg=/pg=/p;t;s/^/pgerr=/p' | head -n3`, listBackupsScript(app)].join(
    '\n',
  );
}

export interface Facts {
  os: string;
  kernel: string;
  uptimeSec: number;
  rebootRequired: boolean;
  rebootPackages: string[];
  tailnet?: string;
  memory?: { totalBytes: number; availableBytes: number; usedPercent: number; swapTotalBytes: number };
}

const kv = (stdout: string): Map<string, string> => {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return m;
};

export function parseFacts(stdout: string): Facts {
  const m = kv(stdout);
  const kib = (k: string) => Number(m.get(`mem.${k}`) ?? Number.NaN) * 1024;
  const total = kib('MemTotal');
  const avail = kib('MemAvailable');
  return {
    os: m.get('os') || 'unknown',
    kernel: m.get('kernel') || 'unknown',
    uptimeSec: Math.round(Number(m.get('uptime') ?? 0)),
    rebootRequired: m.get('reboot') === 'yes',
    rebootPackages: (m.get('rebootpkgs') ?? '').split(/\s+/).filter(Boolean),
    tailnet: m.get('tailnet') || undefined,
    memory:
      Number.isFinite(total) && Number.isFinite(avail) && total > 0
        ? {
            totalBytes: total,
            availableBytes: avail,
            usedPercent: Math.round(((total - avail) / total) * 100),
            swapTotalBytes: Number.isFinite(kib('SwapTotal')) ? kib('SwapTotal') : 0,
          }
        : undefined,
  };
}

export interface Security {
  /** False when the host has no apt (the count is then unknown). */
  known: boolean;
  packages: string[];
  /** Unix seconds of the newest package list, when there is one. */
  listsAt?: number;
}

export function parseSecurity(stdout: string): Security {
  if (stdout.trim() === 'noapt') return { known: false, packages: [] };
  const lines = stdout.split('\n');
  const lists = Number(kv(stdout).get('lists'));
  return {
    known: true,
    packages: [...new Set(lines.filter((l) => l.startsWith('pkg=')).map((l) => l.slice(4).trim()))],
    listsAt: Number.isFinite(lists) && lists > 0 ? lists : undefined,
  };
}

export interface Disk {
  path: string;
  mount: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  usedPercent: number;
  warn: boolean;
}

/** `df -P` columns: used / (used + available), as df's own Use% rounds (reserved blocks excluded). */
export function parseDisks(stdout: string, warnPercent: number): Disk[] {
  const out: Disk[] = [];
  for (const line of stdout.split('\n')) {
    const [p, mount, size, used, avail] = line.trim().split(/\s+/);
    if (!p || !mount || !/^\d+$/.test(size ?? '') || !/^\d+$/.test(used ?? '') || !/^\d+$/.test(avail ?? ''))
      continue;
    const u = Number(used) * 1024;
    const a = Number(avail) * 1024;
    const pct = u + a > 0 ? Math.ceil((u / (u + a)) * 100) : 0;
    out.push({
      path: p,
      mount,
      sizeBytes: Number(size) * 1024,
      usedBytes: u,
      availableBytes: a,
      usedPercent: pct,
      warn: pct >= warnPercent,
    });
  }
  return out;
}

export interface AppStatus {
  name: string;
  postgres: { want: number; version?: string; error?: string };
  databaseBytes?: number;
  lastBackup?: { name: string; at: string; ageSec: number; stale: boolean };
  backups: number;
  backupsDir: string;
}

export function parseApp(app: App, stdout: string, nowSec: number): AppStatus {
  const pg = /^pg=(\d+) (.+)$/m.exec(stdout);
  const err = /^pgerr=(.*)$/m.exec(stdout)?.[1]?.trim();
  const list = parseBackupList(app.name, stdout);
  const newest = list[0];
  return {
    name: app.name,
    postgres: pg
      ? { want: app.postgres, version: pg[2]!.trim() }
      : { want: app.postgres, error: err || 'no answer' },
    databaseBytes: pg ? Number(pg[1]) : undefined,
    lastBackup: newest
      ? {
          name: newest.name,
          at: new Date(newest.mtime * 1000).toISOString(),
          ageSec: Math.max(0, Math.round(nowSec - newest.mtime)),
          stale: nowSec - newest.mtime > STALE_AFTER_SEC,
        }
      : undefined,
    backups: list.length,
    backupsDir: backupDir(app.name),
  };
}
