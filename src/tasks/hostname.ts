import type { Task } from '../engine/task.js';
import { shq } from '../quote.js';

export interface HostnameState {
  file: string;
  running: string;
}

/** The host's name (/etc/hostname and the running kernel name) is its inventory name. */
export function hostnameTask(name: string): Task<HostnameState> {
  return {
    id: 'hostname',
    probe: 'cat /etc/hostname 2>/dev/null; echo; hostname',
    parse: (out) => {
      const lines = out
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      return { file: lines.length > 1 ? lines[0]! : '', running: lines[lines.length - 1] ?? '' };
    },
    diff: (s) =>
      s.file === name && s.running === name
        ? []
        : [
            {
              summary: `set hostname ${name} (was ${s.running || 'unset'})`,
              kind: 'hostname',
              expected: name,
              actual: s.running,
            },
          ],
    // Written in place, not renamed over: container runtimes bind-mount /etc/hostname.
    apply: () => [{ script: `printf '%s\\n' ${shq(name)} > /etc/hostname && hostname ${shq(name)}` }],
  };
}
