import { createHash } from 'node:crypto';
import { InfraError } from '../errors.js';
import { shCmd, shq } from '../quote.js';
import { OFFSITE_SCRIPT_PATH } from '../tasks/backup-offsite.js';
import { copiesDir } from '../tasks/backup-pull.js';
import { atomicWrite } from '../tasks/lib/file.js';
import { backupDir, parseChecksumLine } from '../tasks/pg-backup.js';
import { chownPasswordScript, passwordFile, psqlArgv } from '../tasks/postgres-app.js';
import type { Transport } from '../transport/types.js';
import { type AppSession, lastLines } from './app-host.js';
import { withControl } from './control-copies.js';

/** What a restore from the control host brings back besides the dump. */
export interface FetchedCopy {
  /** The app's password as the control host keeps it, if it does. */
  password?: string;
}

/**
 * `restore --from control|offsite`, first half: the control host's copy (or, from off-site, the
 * one restic restores from the newest snapshot into a scratch directory there) is checked against its sha256
 * there (a mismatch is refused before anything moves), read over infra's own connection, checked
 * again here, and placed on the apps host beside its dumps (a temp name, then renamed), so the
 * usual restore path — checksum on the host, safety backup, one-transaction pg_restore — runs
 * on it unchanged. Base64 in one buffer, like `backup --download`: fine for small apps.
 */
export async function fetchFromControl(
  s: AppSession,
  name: string,
  from: 'control' | 'offsite' = 'control',
): Promise<FetchedCopy> {
  const app = s.app.name;
  if (from === 'offsite' && !s.inv.offsite)
    throw new InfraError(`--from offsite: ${s.inv.file} has no backups.offsite (docs/apps.md "Off-site")`);
  const got = await withControl(s.inv, async (t, control) => {
    // From off-site: the newest snapshot's copies of the app, restored by restic into a scratch
    // directory on the control host (infra-backup-offsite restore), then read like a copy there.
    const scratch = from === 'offsite' ? await offsiteScratch(t, control.name, app) : undefined;
    try {
      return await readCopy(t, control.name, scratch ? `${scratch.dir}${copiesDir(app)}` : copiesDir(app));
    } finally {
      if (scratch) await t.exec(`rm -rf ${shq(scratch.dir)}`);
    }
  });
  return placeCopy(s, name, got, from === 'offsite' ? "the off-site repository's" : "the control host's");

  async function readCopy(t: Transport, controlName: string, dir: string) {
    const where = `${controlName}:${dir}/${name}`;
    const check = await t.exec(
      `cd ${shq(dir)} 2>/dev/null && [ -f ${shq(name)} ] && [ -f ${shq(`${name}.sha256`)} ] || exit 4\nsha256sum --quiet -c ${shq(`${name}.sha256`)} >/dev/null 2>&1 || exit 3`,
    );
    if (check.code === 4)
      throw new InfraError(
        from === 'offsite'
          ? `no copy ${name} of ${app} in the newest off-site snapshot (see: infra backups ${app})`
          : `no copy ${name} of ${app} on ${controlName} (see: infra backups ${app})`,
      );
    if (check.code !== 0)
      throw new InfraError(
        `refusing to restore ${where}: it does not match its sha256 (the copy is corrupt); the database was not touched`,
      );
    const read = async (f: string, optional = false) => {
      const r = await t.exec(`base64 -w0 < ${shq(f)}`, { timeoutMs: 3_600_000 });
      if (r.code !== 0 && !optional) throw new InfraError(`reading ${f} on ${controlName} failed`);
      return r.code === 0 ? Buffer.from(r.stdout.trim(), 'base64') : undefined;
    };
    return {
      dump: (await read(`${dir}/${name}`))!,
      sums: (await read(`${dir}/${name}.sha256`))!,
      manifest: await read(`${dir}/${name}.manifest`, true),
      password: await read(`${dir}/pg_password`, true),
    };
  }
}

/** restic's restore of the app's copies into a fresh scratch directory on the control host. */
async function offsiteScratch(t: Transport, controlName: string, app: string): Promise<{ dir: string }> {
  const r = await t.exec(
    `d=$(mktemp -d /var/tmp/infra-offsite-restore.XXXXXX) || exit 1\necho "$d"\n[ -x ${shq(OFFSITE_SCRIPT_PATH)} ] || exit 5\n${shq(OFFSITE_SCRIPT_PATH)} restore ${shq(app)} "$d"`,
    { timeoutMs: 3_600_000 },
  );
  const dir = r.stdout.split('\n')[0]?.trim() ?? '';
  if (r.code === 0) return { dir };
  if (dir) await t.exec(`rm -rf ${shq(dir)}`);
  throw new InfraError(
    r.code === 5
      ? `${controlName} has no off-site copy set up (${OFFSITE_SCRIPT_PATH})`
      : `restoring ${app}'s copies from off-site on ${controlName} failed: ${lastLines(r.stderr, 2).replace(/^infra-backup-offsite: /, '')}`,
    r.code === 5 ? `run: infra apply ${controlName} (with backups.offsite in the inventory)` : undefined,
  );
}

interface Copy {
  dump: Buffer;
  sums: Buffer;
  manifest?: Buffer;
  password?: Buffer;
}

/** The second half: the copy checked here again, placed on the apps host beside its dumps. */
async function placeCopy(s: AppSession, name: string, got: Copy, source: string): Promise<FetchedCopy> {
  const app = s.app.name;
  const want = parseChecksumLine(got.sums.toString('utf8'));
  if (!want || createHash('sha256').update(got.dump).digest('hex') !== want)
    throw new InfraError(
      `the copy of ${name} read from ${source} copy does not match its checksum; nothing written`,
    );
  const put = (file: string, bytes: Buffer) =>
    s.run(
      `d=${shq(backupDir(app))}; mkdir -p "$d" && chmod 700 /var/backups/infra "$d" && t=$(mktemp "$d/.restore.XXXXXX") && base64 -d > "$t" && chmod 600 "$t" && mv -f "$t" ${shq(file)}`,
      `placing ${file} on ${s.host.name}`,
      { stdin: bytes.toString('base64'), timeoutMs: 3_600_000 },
    );
  const target = `${backupDir(app)}/${name}`;
  if (got.manifest) await put(`${target}.manifest`, got.manifest);
  await put(target, got.dump);
  await put(`${target}.sha256`, got.sums);
  s.out.line(`${s.host.name}: placed ${name} from ${source} copy in ${backupDir(app)} (sha256 verified)`);
  const password = got.password?.toString('utf8').trim();
  return { password: password && /^[A-Za-z0-9]{16,}$/.test(password) ? password : undefined };
}

/**
 * After the data is back: the app's original password too (a rebuilt host generated a new one;
 * pg_dump carries no role passwords). The file is replaced and the role altered to match, the
 * password on stdin only; nothing happens when the host already has the same one.
 */
export async function restorePassword(s: AppSession, password: string): Promise<void> {
  const app = s.app.name;
  const f = passwordFile(app);
  const same = await s.transport.exec(`[ "$(cat ${shq(f)} 2>/dev/null)" = "$(cat)" ]`, { stdin: password });
  if (same.code === 0) return;
  await s.run(
    `${atomicWrite({ path: f, mode: '600' })}\n${chownPasswordScript(app, s.app.postgres)}`,
    `restoring the password file of ${app}`,
    { stdin: password },
  );
  // psql reads the statement from stdin: the password never reaches argv.
  const argv = psqlArgv(app).map((a) => a);
  await s.run(
    `${shCmd([...argv.slice(0, 7), '-T', ...argv.slice(7), '-v', 'ON_ERROR_STOP=1', '-X', '-q'])}`,
    `setting ${app}'s original password`,
    {
      stdin: `ALTER ROLE "${app}" PASSWORD '${password}';\n`,
    },
  );
  s.out.line(`${s.host.name}: ${app}'s original password is back (from the control host's copy)`);
}
