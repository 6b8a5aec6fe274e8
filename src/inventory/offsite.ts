import { z } from 'zod';
import type { Secret } from '../secrets.js';

/**
 * `backups.offsite`: the control host's copies, encrypted, in a restic repository elsewhere
 * (docs/apps.md "Off-site"). Repository URL forms are restic's own (restic 0.18, Debian trixie,
 * doc/030_preparing_a_new_repo.rst): `rest:http(s)://host:port/path/`, `sftp:user@host:/path`,
 * `s3:https://host/bucket/path`. Credentials never sit in the URL (the inventory holds no
 * secret): the REST server's user and password go through restic's RESTIC_REST_USERNAME /
 * RESTIC_REST_PASSWORD, S3's through the AWS_* variables (doc/040_backup.rst "Environment
 * Variables"), each a secret ref under `env`.
 */
export const OFFSITE_REPOSITORY =
  /^(rest:https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?|sftp:[a-z_][a-z0-9_-]*@[A-Za-z0-9.-]+:\/?[A-Za-z0-9._~/-]+|s3:https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/[A-Za-z0-9._~/-]+)$/;

/** The variables restic reads for the backends above (restic 0.18 doc/040_backup.rst). */
export const OFFSITE_ENV = [
  'RESTIC_REST_USERNAME',
  'RESTIC_REST_PASSWORD',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_DEFAULT_REGION',
] as const;

const ref = z
  .string()
  .regex(
    /^env:([A-Z_][A-Z0-9_]*)$/,
    'expected a reference like env:RESTIC_PASSWORD (secrets never live in the inventory)',
  );
const keep = (d: number) => z.number().int().min(0).max(1000).default(d);

export const offsiteSchema = z
  .object({
    repository: z
      .string()
      .refine((v) => !/^[a-z0-9]+:[a-z]+:\/\/[^/]*@/.test(v), {
        message:
          'expected no credentials in the URL: put them in backups.offsite.env (RESTIC_REST_USERNAME, RESTIC_REST_PASSWORD or AWS_*) as secret refs',
      })
      .refine((v) => OFFSITE_REPOSITORY.test(v), {
        message:
          "expected a restic repository like rest:https://backup.example.com:8000/infra/, sftp:user@host:/srv/restic or s3:https://s3.example.com/bucket/infra (restic's URL forms)",
      }),
    /** The repository's encryption password (restic reads it from RESTIC_PASSWORD_FILE). */
    password: ref,
    env: z
      .record(
        z.enum(OFFSITE_ENV, {
          errorMap: () => ({ message: `expected one of restic's variables: ${OFFSITE_ENV.join(', ')}` }),
        }),
        ref,
      )
      .default({}),
    /** restic forget --prune --keep-daily/--keep-weekly/--keep-monthly (doc/060_forget.rst). */
    keep_daily: keep(7),
    keep_weekly: keep(5),
    keep_monthly: keep(12),
    /** `check` reports a newest snapshot older than this. */
    max_age_hours: z.number().int().min(1).max(8760).default(26),
  })
  .strict()
  .refine((o) => o.keep_daily + o.keep_weekly + o.keep_monthly > 0, {
    message: 'keep_daily, keep_weekly and keep_monthly are all 0: forget would keep no snapshot',
    path: ['keep_daily'],
  });

export const backupsSchema = z.object({ offsite: offsiteSchema.optional() }).strict().default({});
export type OffsiteDoc = z.infer<typeof offsiteSchema>;

export interface OffsiteSettings {
  repository: string;
  passwordRef: string;
  password: Secret | undefined;
  /** restic's variable → its secret ref and value. */
  env: { name: string; ref: string; value: Secret | undefined }[];
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  maxAgeHours: number;
}

export function offsiteSettings(doc: OffsiteDoc | undefined): OffsiteSettings | undefined {
  if (!doc) return undefined;
  return {
    repository: doc.repository,
    passwordRef: doc.password,
    password: undefined,
    env: Object.entries(doc.env)
      .map(([name, r]) => ({ name, ref: r as string, value: undefined }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    keepDaily: doc.keep_daily,
    keepWeekly: doc.keep_weekly,
    keepMonthly: doc.keep_monthly,
    maxAgeHours: doc.max_age_hours,
  };
}
