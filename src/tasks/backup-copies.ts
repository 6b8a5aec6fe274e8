import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import {
  COPY_STALE_AFTER_SEC,
  copiesDir,
  PULL_DIR,
  PULL_FAILED_DIR,
  PULL_KEY,
  type PullTarget,
  runPullScript,
} from './backup-pull.js';

/** Pure: an OpenSSH public key line, or undefined. */
export function parsePublicKey(out: string): string | undefined {
  const line = out.trim();
  return /^ssh-ed25519 [A-Za-z0-9+/=]+( \S+)?$/.test(line) ? line : undefined;
}

/**
 * The control host's pull key: generated once on the host (the private half never leaves it);
 * its public half is learned, so the apps hosts' plans can authorize it (read-only).
 */
export function backupPullKeyTask(hostName: string, after: string[]): Task<string | undefined> {
  return {
    id: 'backup-pull:key',
    after,
    probe: `cat ${shq(`${PULL_KEY}.pub`)} 2>/dev/null; true`,
    parse: parsePublicKey,
    diff: (k): Change[] =>
      k ? [] : [{ summary: `generate ${hostName}'s key for copying the apps' backups`, kind: 'key-missing' }],
    apply: () => [
      {
        script: `mkdir -p ${shq(PULL_DIR)} && chmod 700 ${shq(PULL_DIR)} && rm -f ${shq(PULL_KEY)} ${shq(`${PULL_KEY}.pub`)} && ssh-keygen -q -t ed25519 -N '' -C ${shq(`infra-backup-pull@${hostName}`)} -f ${shq(PULL_KEY)}`,
      },
    ],
    learn: (k) => (k ? { backupPullKey: k } : {}),
  };
}

export interface CopyState {
  /** Age in seconds and name of the newest copy that has its checksum, if any. */
  newest: { ageSec: number; name: string } | null;
  failed: { at: string; why: string } | null;
}

/** Pure: `newest AGE NAME` / `newest none`, then the failure record (if any). */
export function parseCopyState(out: string): CopyState {
  const lines = out.split('\n');
  const n = /^newest (\d+) (\S+)$/.exec(lines[0]?.trim() ?? '');
  const f = lines.slice(1).join('\n').trim();
  const sp = f.indexOf(' ');
  return {
    newest: n ? { ageSec: Number(n[1]), name: n[2]! } : null,
    failed: f ? (sp < 0 ? { at: f, why: 'unknown' } : { at: f.slice(0, sp), why: f.slice(sp + 1) }) : null,
  };
}

/**
 * Pure: the last pull failed, or the newest copy is older than 28 h. No copy at all and no
 * failure is not a finding (the app is new; the first night's pull, or `infra backup`, makes one).
 */
export function diffCopies(app: string, host: string, s: CopyState): Change[] {
  const out: Change[] = [];
  if (s.failed)
    out.push({
      summary: `copying ${app}'s backups to ${host} failed at ${s.failed.at}: ${s.failed.why}`,
      kind: 'backup-copy-failed',
      expected: 'the last copy succeeded',
      actual: s.failed.why,
    });
  else if (s.newest && s.newest.ageSec > COPY_STALE_AFTER_SEC)
    out.push({
      summary: `the newest copy of ${app} on ${host} is ${Math.floor(s.newest.ageSec / 3600)} h old (${s.newest.name}): copy again`,
      kind: 'backup-copy-stale',
      expected: '< 28h',
      actual: `${Math.floor(s.newest.ageSec / 3600)}h`,
    });
  return out;
}

/** One app's copies on the control host; apply pulls that app now. */
/** The control host's copies of one app (`target`), pulled by `host`. */
export function backupCopiesTask(
  want: { target: PullTarget; host: string },
  after: string[] = [],
): Task<CopyState> {
  const { target: t, host } = want;
  const d = shq(copiesDir(t.app));
  return {
    id: `backup-copies:${t.app}`,
    after,
    // Age from the stamp in the name (the dump's time on the apps host), not the arrival time.
    probe: `n=$(ls -1 ${d} 2>/dev/null | grep -E ${shq(`^${t.app}-[0-9]{8}T[0-9]{6}Z\\.dump\\.sha256$`)} | sort | tail -n 1)
if [ -n "$n" ]; then s=\${n#${shq(`${t.app}-`)}}; s=\${s%.dump.sha256}; s=$(printf '%s' "$s" | sed -E 's/^(....)(..)(..)T(..)(..)(..)Z$/\\1-\\2-\\3 \\4:\\5:\\6/'); echo "newest $(( $(date +%s) - $(date -u -d "$s" +%s) )) \${n%.sha256}"; else echo newest none; fi
cat ${shq(`${PULL_FAILED_DIR}/${t.app}.failed`)} 2>/dev/null | head -n 1; true`,
    parse: parseCopyState,
    diff: (s) => diffCopies(t.app, host, s),
    apply: () => [{ script: runPullScript(t), timeoutMs: 60 * 60_000 }],
  };
}
