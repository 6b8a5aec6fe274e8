import type { Change, Step, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { unifiedDiff } from '../util/unified-diff.js';
import { atomicWrite, contentProbe, parseContent, restoreFile } from './lib/file.js';
import { sections } from './lib/parse.js';

/** `00-` sorts before cloud-init's 50-cloud-init.conf, and sshd keeps the first value it reads. */
export const SSHD_DROPIN = '/etc/ssh/sshd_config.d/00-infra.conf';

/** Effective values as `sshd -T` prints them (lower-case keys); each accepted spelling listed. */
export const SSHD_WANT: Record<string, { line: string; accept: string[] }> = {
  passwordauthentication: { line: 'PasswordAuthentication no', accept: ['no'] },
  kbdinteractiveauthentication: { line: 'KbdInteractiveAuthentication no', accept: ['no'] },
  // OpenSSH prints the old synonym without-password for prohibit-password.
  permitrootlogin: {
    line: 'PermitRootLogin prohibit-password',
    accept: ['prohibit-password', 'without-password'],
  },
};

export const SSHD_DROPIN_CONTENT = [
  '# Managed by infra: password logins off, root by key only. Read before cloud-init 50-*.conf.',
  ...Object.values(SSHD_WANT).map((w) => w.line),
  '',
].join('\n');

export interface SshdState {
  /** Current drop-in content; null when it does not exist. */
  dropin: string | null;
  /** Effective values of the settings we own, from `sshd -T`. */
  effective: Record<string, string>;
  /** sshd -t/-T's complaint when the merged configuration is invalid. */
  invalid?: string;
  /**
   * Where our settings are set, in the order sshd reads the files: the drop-ins (sorted, as
   * sshd's glob of `Include /etc/ssh/sshd_config.d/*.conf` sorts them), then sshd_config.
   * Lines after a file's first `Match` are conditional and left out.
   */
  sources: { file: string; key: string; value: string }[];
}

const KEYS = Object.keys(SSHD_WANT);

export const SSHD_PROBE = [
  `f=${shq(SSHD_DROPIN)}`,
  'echo @@dropin',
  contentProbe(SSHD_DROPIN),
  'echo @@effective',
  'if out=$(sshd -T 2>&1); then',
  `  printf '%s\\n' "$out" | grep -Ei '^(${KEYS.join('|')}) ' || true`,
  'else',
  `  printf 'invalid %s\\n' "$(printf '%s' "$out" | head -3 | tr '\\n' ' ')"`,
  'fi',
  // Debian's and Ubuntu's sshd_config start with `Include /etc/ssh/sshd_config.d/*.conf`, so the
  // drop-ins are read first, in glob order (LC_ALL=C: byte order, as 00-infra.conf's name assumes).
  'echo @@sources',
  'for s in $(LC_ALL=C; echo /etc/ssh/sshd_config.d/*.conf) /etc/ssh/sshd_config; do',
  `  if [ -f "$s" ]; then awk -v f="$s" '{ sub(/^[ \t]+/, ""); split($0, a, /[ \t=]+/); k = tolower(a[1]) } k == "match" { exit } k ~ /^(${KEYS.join('|')})$/ { print f " " k " " a[2] }' "$s"; fi`,
  'done',
].join('\n');

export function parseSshd(stdout: string): SshdState {
  const s = sections(stdout);
  const state: SshdState = {
    dropin: parseContent(s.get('dropin') ?? ''),
    effective: {},
    sources: [],
  };
  for (const line of (s.get('sources') ?? '').split('\n')) {
    const m = /^(\S+) (\S+) (\S*)$/.exec(line.trim());
    if (m) state.sources.push({ file: m[1]!, key: m[2]!, value: m[3]! });
  }
  for (const line of (s.get('effective') ?? '').split('\n')) {
    if (line.startsWith('invalid ')) state.invalid = line.slice(8).trim();
    const [key, value] = line.trim().split(/\s+/, 2);
    if (key && value && KEYS.includes(key.toLowerCase())) state.effective[key.toLowerCase()] = value;
  }
  return state;
}

export function diffSshd(s: SshdState): Change[] {
  const changes: Change[] = [];
  if (s.dropin !== SSHD_DROPIN_CONTENT)
    changes.push({
      summary: `${s.dropin === null ? 'create' : 'update'} ${SSHD_DROPIN} (validated with sshd -t, then reload ssh)`,
      kind: s.dropin === null ? 'file-missing' : 'file-content',
      diff: unifiedDiff(s.dropin ?? '', SSHD_DROPIN_CONTENT, SSHD_DROPIN),
    });
  if (s.invalid) {
    changes.push({ summary: `sshd -t rejects the configuration: ${s.invalid}`, kind: 'config-invalid' });
    return changes;
  }
  for (const [key, w] of Object.entries(SSHD_WANT)) {
    const actual = s.effective[key];
    if (actual && w.accept.includes(actual)) continue;
    const by = overriddenBy(s, key);
    if (by)
      changes.push({
        summary: `sshd uses ${w.line.split(' ')[0]} ${actual ?? '(unset)'}, want ${w.accept[0]}: overridden by ${by.file}, read before ${SSHD_DROPIN} (not infra's to edit: remove the line there)`,
        kind: 'overridden-by',
        expected: w.accept[0],
        actual: { value: actual ?? null, file: by.file },
      });
    else
      changes.push({
        summary: `sshd uses ${w.line.split(' ')[0]} ${actual ?? '(unset)'}, want ${w.accept[0]}`,
        kind: 'effective',
        expected: w.accept[0],
        actual: actual ?? null,
      });
  }
  return changes;
}

/**
 * The file that wins over our drop-in for `key`: sshd keeps the first value it reads
 * (sshd_config(5): "for each keyword, the first obtained value will be used"), so a drop-in that
 * sorts before 00-infra.conf and sets the key decides it, whether ours is installed yet or not.
 */
export function overriddenBy(s: SshdState, key: string): { file: string; value: string } | undefined {
  const dir = `${SSHD_DROPIN.slice(0, SSHD_DROPIN.lastIndexOf('/'))}/`;
  const hit = s.sources.find(
    (x) => x.key === key && x.file.startsWith(dir) && x.file !== SSHD_DROPIN && x.file < SSHD_DROPIN,
  );
  return hit && !SSHD_WANT[key]!.accept.includes(hit.value.toLowerCase()) ? hit : undefined;
}

/**
 * What UFW (and its guard) needs from sshd before it closes public SSH: our drop-in in place and
 * a configuration sshd accepts, so the sshd the guard proves is the one that stays. A foreign
 * override of a value (overridden-by) does not change the path; a fresh host (no drop-in yet) or
 * an invalid merge (`sshd -t` fails: a restart would not come back) keeps UFW waiting.
 */
export const sshdSafe = (s: SshdState) => s.dropin === SSHD_DROPIN_CONTENT && !s.invalid;

/** Shell that fails (exit 1) naming the files that set a value before our drop-in does. */
function checkEffective(): string {
  return KEYS.map((key) => {
    const w = SSHD_WANT[key]!;
    const name = w.line.split(' ')[0]!;
    return [
      `v=$(sshd -T 2>/dev/null | awk -v k=${shq(key)} 'tolower($1)==k {print $2}')`,
      `case "$v" in ${w.accept.map(shq).join('|')}) ;; *) restore; echo "sshd still uses ${name} $v: set earlier by $(grep -lis '^[[:space:]]*${name}' /etc/ssh/sshd_config /etc/ssh/sshd_config.d/*.conf | grep -vxF "$f" | tr '\\n' ' ')- remove it there; ${SSHD_DROPIN} was put back as it was" >&2; exit 1;; esac`,
    ].join('\n');
  }).join('\n');
}

/**
 * Installs the drop-in, then `sshd -t`; an invalid result is never left installed (the previous
 * content, or no file, is put back) and ssh is reloaded only after it passed.
 */
export function sshdApplyScript(): string {
  return [
    // `sshd -t` reads the installed files only, so the check runs after the rename, with a backup.
    atomicWrite({ path: SSHD_DROPIN, mode: '644', owner: 'root:root', mkdir: true, backup: true, as: 'f' }),
    'if ! err=$(sshd -t 2>&1); then restore; echo "sshd -t rejected the configuration, $f was put back as it was: $err" >&2; exit 1; fi',
    checkEffective(),
    'rm -f "$old"',
    'if systemctl is-active -q ssh; then systemctl reload ssh; fi',
  ].join('\n');
}

/** Run by the dead-man switch: the probed drop-in (embedded, base64) back in place, then reload. */
export function sshdRollbackScript(s: SshdState): string {
  return `${restoreFile(SSHD_DROPIN, s.dropin)}\nif sshd -t && systemctl is-active -q ssh; then systemctl reload ssh; fi\n`;
}

/** Password logins off and root by key only, read back as sshd's effective configuration. */
export function sshdTask(after: string[] = []): Task<SshdState> {
  return {
    id: 'sshd',
    after,
    probe: SSHD_PROBE,
    parse: parseSshd,
    diff: diffSshd,
    apply: (): Step[] => [{ script: sshdApplyScript(), stdin: SSHD_DROPIN_CONTENT }],
    rollback: sshdRollbackScript,
    safe: sshdSafe,
  };
}
