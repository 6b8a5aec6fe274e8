import { LockHeldError } from '../errors.js';
import { shq } from '../quote.js';
import type { Transport } from '../transport/types.js';

export const LOCK_FILE = '/run/lock/infra.lock';
const WAIT_SEC = 5;

/**
 * One run per host at a time: a remote command holds flock(1) on a file under /run/lock for as long
 * as our connection lives (it exits when its stdin closes), so a killed run frees the lock too.
 */
export async function acquireLock(
  transport: Transport,
  host: string,
  owner: string,
): Promise<() => Promise<void>> {
  const script = [
    `f=${shq(LOCK_FILE)}`,
    'mkdir -p /run/lock',
    'exec 9>>"$f"',
    `if ! flock -w ${WAIT_SEC} 9; then printf 'BUSY %s\\n' "$(cat "$f.owner" 2>/dev/null)"; exit 1; fi`,
    `printf '%s\\n' ${shq(owner)} > "$f.owner"`,
    'echo LOCKED',
    'cat >/dev/null',
  ].join('\n');
  const held = await transport.hold(script);
  let out: string;
  try {
    out = await held.waitFor((s) => /^(LOCKED|BUSY)/m.test(s), (WAIT_SEC + 20) * 1000);
  } catch (e) {
    await held.release();
    throw e;
  }
  const busy = /^BUSY (.*)$/m.exec(out);
  if (busy) {
    await held.release();
    throw new LockHeldError(
      `${host} is locked by another infra run: ${busy[1] || 'unknown holder'} (waited ${WAIT_SEC}s)`,
      'wait for that run to finish; the lock frees itself when its connection ends',
    );
  }
  return () => held.release();
}
