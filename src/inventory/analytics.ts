import { z } from 'zod';
import type { Locate, Problem } from './parse.js';
import type { InventoryDoc } from './schema.js';
import type { AnalyticsSettings } from './types.js';

/**
 * `analytics`: the cross-app SQL layer (docs/analytics.md (g)). One mode, the host its PostgreSQL
 * runs on (default: the control host), the apps it includes (default: every app), the analytics
 * instance's major (>= every included app's: pg_restore cannot read an archive of a newer
 * pg_dump), and per mode its one setting.
 */
export const ANALYTICS_MODES = ['direct', 'nightly', 'replication'] as const;
const EMAIL = /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
/** The nightly sync's time: after the pull (04:30 + 15 min) and the off-site copy (docs/apps.md). */
export const DEFAULT_SYNC_TIME = '05:30';
export const DEFAULT_LAG_THRESHOLD_SEC = 60;
export const DEFAULT_ANALYTICS_MAJOR = 18;

export const analyticsSchema = z
  .object({
    mode: z.enum(ANALYTICS_MODES),
    host: z.string().optional(),
    apps: z.array(z.string()).optional(),
    postgres: z
      .number({ invalid_type_error: 'expected a PostgreSQL major version number like 18' })
      .int()
      .refine((v) => [14, 15, 16, 17, 18].includes(v), 'expected a supported PostgreSQL major: 14 to 18')
      .optional(),
    sync_time: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day HH:MM like 05:30')
      .optional(),
    lag_threshold: z
      .string()
      .regex(/^[1-9]\d{0,5}(s|m|h)$/, 'expected a duration like 60s, 5m or 1h')
      .optional(),
    metabase: z
      .object({
        admin_email: z.string().regex(EMAIL, 'expected an email address like ops@example.com').optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type AnalyticsDoc = z.infer<typeof analyticsSchema>;

/** Pure: `60s`, `5m`, `1h` in seconds. */
export function durationSec(v: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(v);
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'] : Number.NaN;
}

/** Rules that span keys: the host and apps exist, the major is high enough, per-mode settings. */
export function analyticsProblems(doc: InventoryDoc, locate: Locate): Problem[] {
  const a = doc.analytics;
  if (!a) return [];
  const out: Problem[] = [];
  const at = (path: (string | number)[], message: string) =>
    out.push({ ...locate(['analytics', ...path]), path: ['analytics', ...path].join('.'), message });
  const control = Object.entries(doc.hosts).find(([, h]) => h.role === 'control')?.[0];
  const host = a.host ?? control;
  if (a.host !== undefined && !doc.hosts[a.host])
    at(['host'], `no host named ${a.host} (hosts: ${Object.keys(doc.hosts).join(', ')})`);
  else if (host === undefined)
    at(['mode'], 'needs a host: the inventory has no control host, so give analytics.host');
  else if (a.mode === 'nightly' && host !== control)
    at(
      ['host'],
      `${host} is not the control host ${control}: mode nightly restores the copies the control host pulls (/var/backups/infra-copies), so it runs there (leave host out)`,
    );
  const names = Object.keys(doc.apps);
  for (const [i, name] of (a.apps ?? []).entries()) {
    if (!names.includes(name))
      at(
        ['apps', i],
        `${JSON.stringify(name)} is not an app of this inventory (apps: ${names.join(', ') || 'none'})`,
      );
    else if ((a.apps ?? []).indexOf(name) !== i) at(['apps', i], `${name} is listed twice`);
  }
  const major = a.postgres ?? DEFAULT_ANALYTICS_MAJOR;
  for (const name of a.apps ?? names) {
    const app = doc.apps[name];
    if (app && app.postgres > major)
      at(
        ['postgres'],
        `${major} is lower than ${name}'s ${app.postgres} (a dump of ${app.postgres} does not restore into ${major}, nor does ${major} subscribe to it reliably): set ${app.postgres} or higher`,
      );
  }
  if (a.sync_time !== undefined && a.mode !== 'nightly')
    at(['sync_time'], `only for mode nightly (mode is ${a.mode}): remove it`);
  if (a.lag_threshold !== undefined && a.mode !== 'replication')
    at(['lag_threshold'], `only for mode replication (mode is ${a.mode}): remove it`);
  return out;
}

/** The parsed settings, defaults filled in (the document is valid: analyticsProblems passed). */
export function analyticsSettings(doc: InventoryDoc): AnalyticsSettings | undefined {
  const a = doc.analytics;
  if (!a) return undefined;
  const control = Object.entries(doc.hosts).find(([, h]) => h.role === 'control')?.[0];
  return {
    mode: a.mode,
    host: a.host ?? control!,
    apps: [...(a.apps ?? Object.keys(doc.apps))],
    postgres: a.postgres ?? DEFAULT_ANALYTICS_MAJOR,
    syncTime: a.sync_time ?? DEFAULT_SYNC_TIME,
    lagThresholdSec: a.lag_threshold ? durationSec(a.lag_threshold) : DEFAULT_LAG_THRESHOLD_SEC,
    metabase: { adminEmail: a.metabase?.admin_email },
  };
}
