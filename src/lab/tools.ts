import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { sleep } from './exec.js';
import type { LabProgress } from './types.js';

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
