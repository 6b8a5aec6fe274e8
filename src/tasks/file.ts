import path from 'node:path';
import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import { unifiedDiff } from '../util/unified-diff.js';

export interface DesiredFile {
  path: string;
  content: string;
  mode: string; // octal, as stat prints it: "644", "600"
  owner?: string;
  group?: string;
  /** Shell run after the file changed (a reload); it runs on the host with $f set to the path. */
  onChange?: string;
  /** The content holds secrets: show no diff, only that it changed. */
  sensitive?: boolean;
}

export type FileState =
  | { exists: false }
  | { exists: true; mode: string; owner: string; group: string; content: string };

/** Reads mode, owner and content (base64, so any byte survives the trip). */
export function fileProbe(p: string): string {
  return `f=${shq(p)}\nif [ -f "$f" ]; then stat -c '%a %U %G' "$f"; base64 -w0 < "$f"; echo; else echo MISSING; fi`;
}

export function parseFileProbe(stdout: string): FileState {
  const [meta = '', b64 = ''] = stdout.split('\n');
  if (meta.trim() === 'MISSING') return { exists: false };
  const [mode, owner, group] = meta.trim().split(' ');
  if (!mode || !owner || !group) throw new Error(`unexpected stat output: ${meta}`);
  return { exists: true, mode, owner, group, content: Buffer.from(b64.trim(), 'base64').toString('utf8') };
}

export function diffFile(want: DesiredFile, state: FileState): Change[] {
  const owner = want.owner ?? 'root';
  const group = want.group ?? owner;
  if (!state.exists) {
    return [
      {
        summary: `create ${want.path} (mode ${want.mode})`,
        kind: 'file-missing',
        diff: want.sensitive ? undefined : unifiedDiff('', want.content, want.path),
      },
    ];
  }
  const changes: Change[] = [];
  if (state.content !== want.content) {
    changes.push({
      summary: `update ${want.path}${want.sensitive ? ' (content hidden: it holds secrets)' : ''}`,
      kind: 'file-content',
      diff: want.sensitive ? undefined : unifiedDiff(state.content, want.content, want.path),
    });
  }
  if (state.mode !== want.mode)
    changes.push({
      summary: `chmod ${want.mode} ${want.path} (was ${state.mode})`,
      kind: 'file-mode',
      expected: want.mode,
      actual: state.mode,
    });
  if (state.owner !== owner || state.group !== group)
    changes.push({
      summary: `chown ${owner}:${group} ${want.path} (was ${state.owner}:${state.group})`,
      kind: 'file-owner',
      expected: `${owner}:${group}`,
      actual: `${state.owner}:${state.group}`,
    });
  return changes;
}

/** Atomic write: content on stdin to a temp file beside the target, then chmod, chown, rename. */
export function writeFileScript(want: DesiredFile): string {
  const owner = want.owner ?? 'root';
  return [
    `f=${shq(want.path)}`,
    `mkdir -p ${shq(path.posix.dirname(want.path))}`,
    `tmp=$(mktemp ${shq(`${path.posix.dirname(want.path)}/.infra.XXXXXX`)})`,
    'cat > "$tmp"',
    `chmod ${shq(want.mode)} "$tmp"`,
    `chown ${shq(`${owner}:${want.group ?? owner}`)} "$tmp"`,
    'mv -f "$tmp" "$f"',
    ...(want.onChange ? [want.onChange] : []),
  ].join(' && ');
}

export function fileTask(want: DesiredFile, after: string[] = []): Task<FileState> {
  return {
    id: `file:${want.path}`,
    after,
    probe: fileProbe(want.path),
    parse: parseFileProbe,
    diff: (state) => diffFile(want, state),
    apply: () => [{ script: writeFileScript(want), stdin: want.content }],
  };
}
