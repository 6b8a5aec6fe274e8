import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { run, sleep } from './exec.js';
import type { LabProgress } from './types.js';

/** Host command -> the Debian package that provides it. */
const TOOLS: Record<string, string> = {
  docker: 'docker.io',
  debootstrap: 'debootstrap',
  'apt-ftparchive': 'apt-utils',
  'dpkg-deb': 'dpkg',
  gpg: 'gnupg',
  'ssh-keygen': 'openssh-client',
  tar: 'tar',
};

async function has(cmd: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${cmd}`])).code === 0;
}

/** Installs whatever host tool is missing, with apt, so a fresh Debian machine can run the lab. */
export async function ensureHostTools(progress: LabProgress): Promise<void> {
  const missing: string[] = [];
  for (const [cmd, pkg] of Object.entries(TOOLS)) if (!(await has(cmd))) missing.push(pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the lab needs ${missing.join(', ')}; install them (apt-get install ${missing.join(' ')}) or run as root`,
    );
  }
  progress(`installing host tools with apt: ${missing.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const upd = await run('apt-get', ['update'], { env });
  if (upd.code !== 0)
    throw new Error(`apt-get update failed: ${upd.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const inst = await run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
  if (inst.code !== 0)
    throw new Error(`apt-get install failed: ${inst.stderr.trim().split('\n').slice(-5).join(' ')}`);
}

/** Starts dockerd in the background when no engine answers (machines without systemd, like CI). */
export async function ensureDocker(progress: LabProgress): Promise<void> {
  if ((await run('docker', ['info', '--format', '{{.ServerVersion}}'])).code === 0) return;
  progress(
    'no Docker engine answers; starting dockerd in the background (log: /var/log/infra-lab-dockerd.log)',
  );
  const log = openSync('/var/log/infra-lab-dockerd.log', 'a');
  const child = spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  closeSync(log);
  for (let i = 0; i < 120; i++) {
    await sleep(500);
    if ((await run('docker', ['info', '--format', '{{.ServerVersion}}'])).code === 0) return;
  }
  throw new Error('dockerd did not answer within 60 s; see /var/log/infra-lab-dockerd.log');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** In-process queue per lock path, so callers in one process (threads, parallel tests) also wait. */
const queues = new Map<string, Promise<unknown>>();

/**
 * A lock file holding the owner's pid: test files run in parallel and share one lab,
 * and Docker object names are global, so only one lab operation runs at a time.
 */
export function withLock<T>(
  path: string,
  what: string,
  progress: LabProgress,
  fn: () => Promise<T>,
): Promise<T> {
  const prev = queues.get(path) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => withFileLock(path, what, progress, fn));
  queues.set(path, next);
  return next;
}

async function withFileLock<T>(
  path: string,
  what: string,
  progress: LabProgress,
  fn: () => Promise<T>,
): Promise<T> {
  mkdirSync(dirname(path), { recursive: true });
  let told = false;
  let empty = 0;
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      let owner: number;
      try {
        owner = Number(readFileSync(path, 'utf8').trim());
      } catch {
        continue; // released between our attempt and the read
      }
      // An empty file is a lock being written right now; only a lasting one is stale.
      const stale = owner ? !pidAlive(owner) : ++empty > 10;
      if (stale) {
        rmSync(path, { force: true });
        continue;
      }
      if (!told && owner) progress(`waiting for ${what} held by pid ${owner}`);
      told ||= Boolean(owner);
      await sleep(owner ? 500 : 100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}
