import type { Task } from '../engine/task.js';
import { shq } from '../quote.js';

/** Pure: the zone name from `readlink /etc/localtime` (e.g. /usr/share/zoneinfo/Europe/Berlin). */
export function parseTimezone(stdout: string): string {
  const link = stdout.trim();
  const m = /zoneinfo\/(.+)$/.exec(link);
  return m ? m[1]! : link || 'unset';
}

/** /etc/localtime and /etc/timezone name the inventory's zone (tzdata must be installed first). */
export function timezoneTask(zone: string, after: string[] = []): Task<string> {
  return {
    id: 'timezone',
    after,
    probe: 'readlink /etc/localtime 2>/dev/null || true',
    parse: parseTimezone,
    diff: (current) =>
      current === zone
        ? []
        : [
            {
              summary: `set timezone ${zone} (was ${current})`,
              kind: 'timezone',
              expected: zone,
              actual: current,
            },
          ],
    apply: () => [
      {
        script: [
          `z=${shq(zone)}`,
          '[ -f "/usr/share/zoneinfo/$z" ] || { echo "unknown timezone $z (is tzdata installed?)" >&2; exit 1; }',
          'ln -sfn "/usr/share/zoneinfo/$z" /etc/localtime',
          'printf \'%s\\n\' "$z" > /etc/timezone',
        ].join(' && '),
      },
    ],
  };
}
