import type { Change, Task } from '../engine/task.js';
import { unifiedDiff } from '../util/unified-diff.js';
import { atomicWrite, type FileState, fileProbe, parseFileProbe } from './lib/file.js';

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

/** Atomic write (tasks/lib/file.ts): content on stdin, then `onChange` once the rename is done. */
export function writeFileScript(want: DesiredFile): string {
  const owner = want.owner ?? 'root';
  const write = atomicWrite({
    path: want.path,
    mode: want.mode,
    owner: `${owner}:${want.group ?? owner}`,
    mkdir: true,
    as: 'f',
  });
  return want.onChange ? `${write}\n${want.onChange}` : write;
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
