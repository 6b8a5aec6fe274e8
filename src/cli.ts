import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { addEverydayVerbs } from './cli-verbs.js';
import type { ConvergeOptions } from './commands/converge.js';
import type { GlobalOptions } from './commands/shared.js';
import { PACKAGE_ROOT } from './paths.js';
import { trace } from './trace.js';

trace('cli');
process.on('exit', () => trace('exit'));

/** The installed package's own version: read at start (one small file), never built in. */
const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

// Command modules are imported inside their actions: `infra --help` must not load ssh2.
const program = new Command('infra')
  .description(
    'Provision a small fleet over SSH from one inventory file, and report exactly what changed or drifted.',
  )
  .option('-i, --inventory <file>', 'inventory file (default: ./inventory.yaml or $INFRA_INVENTORY)')
  .option('--lab', 'run against the local lab (infra lab up) instead of the real hosts')
  .version(version, '-V, --version', 'print the version of infra')
  .showHelpAfterError()
  .addHelpText(
    'after',
    `
Examples:
  infra lab up && infra --lab bootstrap toucan   rehearse on local lab hosts
  infra apply --dry-run                          what would change, with diffs (exit 2 if anything)
  infra check --json                             drift report for CI (exit 0 in sync, 2 drift, 1 error)

Exit codes: 0 success / in sync, 2 changes pending or drift, 1 failure.`,
  );

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

async function run(action: () => Promise<number>): Promise<void> {
  if ('NO_COLOR' in process.env) (await import('chalk')).default.level = 0;
  try {
    process.exitCode = await action();
  } catch (e) {
    const { isInfraError } = await import('./errors.js');
    if (isInfraError(e)) {
      process.stderr.write(`${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
    } else {
      process.stderr.write(
        `infra hit a bug — please report it with this trace:\n${(e as Error)?.stack ?? e}\n`,
      );
    }
    process.exitCode = 1;
  }
}

program
  .command('apply')
  .description('converge hosts to the inventory (all hosts unless named)')
  .argument('[hosts...]', 'host names from the inventory')
  .option('--dry-run', 'show the plan and diffs, change nothing; exit 2 when changes are pending')
  .option('--json', 'print one JSON document instead of lines')
  .option('-v, --verbose', 'also list tasks that are already in sync')
  .option(
    '--guard-timeout <seconds>',
    'seconds before a firewall/sshd/Tailscale SSH change rolls itself back',
    '60',
  )
  .option('--parallel <n>', 'SSH handshakes at once (default 32; every host is probed at once after)')
  .option(
    '--allow-restart',
    "restart an app's PostgreSQL where a setting needs it (wal_level for analytics replication)",
  )
  .addHelpText(
    'after',
    '\nExamples:\n  infra apply\n  infra apply hornbill --dry-run\n  infra apply hornbill --allow-restart\n  infra --lab apply --json',
  )
  .action((hosts: string[], o: ConvergeOptions & { dryRun?: boolean }) =>
    run(async () =>
      (await import('./commands/converge.js')).converge(o.dryRun ? 'plan' : 'apply', globals(), hosts, o),
    ),
  );

program
  .command('bootstrap')
  .description(
    'take a host (fresh VPS or converged) to its full role, safely: the first command on a new server',
  )
  .argument('<host>', 'host name from the inventory')
  .option('--dry-run', 'show the plan and diffs, change nothing; exit 2 when changes are pending')
  .option('--json', 'print one JSON document instead of lines')
  .option('-v, --verbose', 'also list tasks that are already in sync')
  .option(
    '--guard-timeout <seconds>',
    'seconds before a firewall/sshd/Tailscale SSH change rolls itself back',
    '60',
  )
  .addHelpText(
    'after',
    '\nConnects over the public address until the host is on the tailnet, over the tailnet after.\n\nExamples:\n  infra bootstrap toucan\n  infra --lab bootstrap hornbill --dry-run',
  )
  .action((host: string, o: ConvergeOptions & { dryRun?: boolean }) =>
    run(async () =>
      (await import('./commands/converge.js')).converge(o.dryRun ? 'plan' : 'apply', globals(), [host], o),
    ),
  );

program
  .command('check')
  .description('read-only drift report: one probe round trip per host, nothing changed')
  .argument('[hosts...]', 'host names from the inventory')
  .option('--json', 'print one JSON document (schema in the README)')
  .option('-v, --verbose', 'also list tasks that are in sync')
  .option('--parallel <n>', 'SSH handshakes at once (default 32; every host is probed at once after)')
  .addHelpText('after', '\nExamples:\n  infra check\n  infra check hornbill --json')
  .action((hosts: string[], o: ConvergeOptions) =>
    run(async () => (await import('./commands/converge.js')).converge('check', globals(), hosts, o)),
  );

// --- apps: one PostgreSQL per app (docs/apps.md) ---
program
  .command('add-app')
  .description('add an app to the inventory and give it its own PostgreSQL on its host')
  .argument('<name>', 'app name: lowercase letters, digits and dashes')
  .requiredOption('--pg <version>', 'PostgreSQL major, 14 to 18')
  .option('--host <host>', 'apps host (default: the only host with role apps)')
  .option('--json', 'print one JSON document instead of lines')
  .option('-v, --verbose', 'also list tasks that are already in sync')
  .addHelpText(
    'after',
    '\nEdits the inventory (comments and order kept), then converges the app on its host.\n\nExamples:\n  infra add-app beanstock --pg 18\n  infra --lab add-app xhosa --pg 16 --host hornbill',
  )
  .action((name: string, o: import('./commands/add-app.js').AddAppOptions) =>
    run(async () => (await import('./commands/add-app.js')).addApp(globals(), name, o)),
  );

program
  .command('remove-app')
  .description('remove an app from the inventory and stop its PostgreSQL (data kept unless --delete-data)')
  .argument('<name>', 'app name from the inventory')
  .option(
    '--delete-data',
    'also delete its volume(s), password and backups, after a final backup that is kept',
  )
  .option('--yes', 'do not ask to type the name back (scripts)')
  .addHelpText('after', '\nExamples:\n  infra remove-app docflow\n  infra remove-app docflow --delete-data')
  .action((name: string, o: { deleteData?: boolean; yes?: boolean }) =>
    run(async () => (await import('./commands/remove-app.js')).removeApp(globals(), name, o)),
  );

program
  .command('backup')
  .description(
    "dump an app's PostgreSQL now (pg_dump -Fc + sha256 under /var/backups/infra/NAME on its host)",
  )
  .argument('<name>', 'app name from the inventory (or: verify NAME, the restore drill)')
  .argument('[app]', 'with verify: the app to drill')
  .option('--download <dir>', 'also copy the backup (verified by checksum) to this local directory')
  .option(
    '--name <backup>',
    'with --download or verify: an existing backup instead of a new one / the newest',
  )
  .option('--from <place>', 'with verify: apps, control or offsite (default control)')
  .addHelpText(
    'after',
    '\nExamples:\n  infra backup beanstock\n  infra backup beanstock --download ./backups\n  infra backup beanstock --download . --name beanstock-20260101T023000Z.dump\n  infra backup verify beanstock --from control\n  infra backup verify beanstock --from offsite',
  )
  .action((name: string, app: string | undefined, o: { download?: string; name?: string; from?: string }) =>
    run(async () => {
      // `verify` is a word, not an app: app names cannot take it (see docs/apps.md "Backups").
      if (name === 'verify') {
        if (!app)
          throw new (await import('./errors.js')).InfraError(
            'usage: infra backup verify NAME [--from apps|control|offsite]',
          );
        return (await import('./commands/verify.js')).verifyBackup(globals(), app, o);
      }
      if (app !== undefined)
        throw new (await import('./errors.js')).InfraError(`unexpected argument ${JSON.stringify(app)}`);
      return (await import('./commands/backup.js')).backup(globals(), name, o);
    }),
  );

program
  .command('backups')
  .description("list an app's backups on its host and its copies on the control host, newest first")
  .argument('<name>', 'app name from the inventory')
  .option('--json', 'print one JSON document')
  .addHelpText(
    'after',
    '\nExamples:\n  infra backups beanstock\n  infra backups beanstock --json | jq -r .backups[0].name',
  )
  .action((name: string, o: { json?: boolean }) =>
    run(async () => (await import('./commands/backup.js')).backups(globals(), name, o)),
  );

program
  .command('restore')
  .description("restore an app's database from one of its backups, or to a moment (point-in-time)")
  .argument('<name>', 'app name from the inventory')
  .argument('[backup]', 'backup file name, from: infra backups NAME (not with --at)')
  .option('--yes', 'do not ask for confirmation (scripts)')
  .option(
    '--from <place>',
    "apps (the app host's dump, default), control (the control host's copy) or offsite (the newest off-site snapshot's copy, through the control host)",
  )
  .option('--at <time>', 'replay WAL to this moment (2026-12-01T17:00:00Z, or latest)')
  .option('--to <host>', 'with --at: restore onto this apps host (the inventory then names it)')
  .option('--prune', 'remove the volumes a restore --at (or upgrade-pg) kept, after asking')
  .addHelpText(
    'after',
    '\nExamples:\n  infra restore beanstock beanstock-20260101T023000Z.dump\n  infra restore beanstock --at 2026-12-01T16:59:00Z\n  infra restore beanstock --at latest --to heron --yes\n  infra restore beanstock --prune',
  )
  .action(
    (
      name: string,
      backup: string | undefined,
      o: { yes?: boolean; from?: string; at?: string; to?: string; prune?: boolean },
    ) =>
      run(async () => {
        if (o.prune) return (await import('./commands/upgrade-pg.js')).prune(globals(), name, o.yes);
        if (o.at !== undefined) {
          if (backup !== undefined || o.from !== undefined)
            throw new (await import('./errors.js')).InfraError(
              '--at replays WAL from the control host: give no backup name and no --from',
            );
          return (await import('./commands/pitr-restore.js')).restoreAt(globals(), name, { ...o, at: o.at });
        }
        if (o.to !== undefined) throw new (await import('./errors.js')).InfraError('--to goes with --at');
        if (backup === undefined)
          throw new (await import('./errors.js')).InfraError(
            'say what to restore: a backup name (infra backups NAME) or --at TIME|latest',
          );
        return (await import('./commands/restore.js')).restore(globals(), name, backup, o);
      }),
  );

const db = program.command('db').description("connect to an app's PostgreSQL");
db.command('url')
  .description('print the connection URL (password masked unless --show-password)')
  .argument('<name>', 'app name from the inventory')
  .option('--show-password', 'print the real password')
  .option('--tailnet', "the URL over the tailnet (control server) instead of the app's docker network")
  .addHelpText(
    'after',
    '\nExamples:\n  infra db url beanstock\n  infra db url beanstock --tailnet --show-password',
  )
  .action((name: string, o: { showPassword?: boolean; tailnet?: boolean }) =>
    run(async () => (await import('./commands/db.js')).dbUrl(globals(), name, o)),
  );
db.command('psql')
  .description("interactive psql inside the app's container (needs a terminal), or one statement with -c")
  .argument('<name>', 'app name from the inventory')
  .option('-c, --command <sql>', 'run one statement and print its result (no terminal needed)')
  .addHelpText(
    'after',
    "\nExamples:\n  infra db psql beanstock\n  infra db psql beanstock -c 'SHOW server_version'",
  )
  .action((name: string, o: { command?: string }) =>
    run(async () => (await import('./commands/db.js')).dbPsql(globals(), name, o)),
  );

const analytics = program
  .command('analytics')
  .description("the analytics layer: cross-app SQL over the apps' data (inventory key analytics)");
analytics
  .command('sync')
  .description('nightly mode: back up and copy the app(s) now, then restore and swap them into the layer')
  .argument('[app]', 'one included app (default: every included app)')
  .addHelpText('after', '\nExamples:\n  infra analytics sync\n  infra analytics sync beanstock')
  .action((app: string | undefined) =>
    run(async () => (await import('./commands/analytics.js')).analyticsSync(globals(), app)),
  );
analytics
  .command('status')
  .description("per app: the copy the layer serves, its age, the last sync's failure")
  .option('--json', 'machine-readable output')
  .action((o: { json?: boolean }) =>
    run(async () => (await import('./commands/analytics.js')).analyticsStatus(globals(), o)),
  );
analytics
  .command('psql')
  .description(
    'psql in the analytics database as the read-only role analytics_ro (needs a terminal), or one statement with -c',
  )
  .option('-c, --command <sql>', 'run one statement and print its result (no terminal needed)')
  .addHelpText(
    'after',
    "\nExamples:\n  infra analytics psql\n  infra analytics psql -c 'SELECT count(*) FROM beanstock.beans'",
  )
  .action((o: { command?: string }) =>
    run(async () => (await import('./commands/analytics.js')).analyticsPsql(globals(), o)),
  );
analytics
  .command('drop')
  .description('remove the data of an app no longer in analytics.apps (an orphan) from the layer')
  .argument('<app>', 'the orphan app')
  .option('--yes', 'confirm without a terminal prompt')
  .action((app: string, o: { yes?: boolean }) =>
    run(async () => (await import('./commands/analytics.js')).analyticsDrop(globals(), app, o)),
  );

program
  .command('upgrade-pg')
  .description('move an app to a newer PostgreSQL major: dump, new volume, restore, compare row counts')
  .argument('<name>', 'app name from the inventory')
  .option('--to <version>', 'the new major')
  .option('--prune', 'delete the volumes of older majors kept by earlier upgrades')
  .option('--yes', 'with --prune: do not ask (scripts)')
  .addHelpText('after', '\nExamples:\n  infra upgrade-pg xhosa --to 18\n  infra upgrade-pg xhosa --prune')
  .action((name: string, o: { to?: string; prune?: boolean; yes?: boolean }) =>
    run(async () => (await import('./commands/upgrade-pg.js')).upgradePg(globals(), name, o)),
  );
// --- end apps ---

// --- stacks: generated secrets (docs/stacks.md) ---
const secrets = program.command('secrets').description('secrets that stacks generated on their host');
secrets
  .command('show')
  .description("print a stack's generated secrets (read on the host; only when asked)")
  .argument('<host>', 'host name from the inventory')
  .argument('<stack>', 'observability, glitchtip or dokploy')
  .addHelpText(
    'after',
    '\nExamples:\n  infra secrets show toucan observability   # the Grafana admin password\n  infra --lab secrets show toucan glitchtip',
  )
  .action((host: string, stack: string) =>
    run(async () => (await import('./commands/secrets.js')).showSecrets(globals(), host, stack)),
  );
// --- end stacks ---

addEverydayVerbs(program, globals, run);

const inventory = program.command('inventory').description('work with the inventory file');
inventory
  .command('validate')
  .description('report every problem in the inventory (file:line:col), exit 1 if any')
  .addHelpText('after', '\nExamples:\n  infra inventory validate\n  infra -i staging.yaml inventory validate')
  .action(() => run(async () => (await import('./commands/inventory.js')).validate(globals())));

const lab = program
  .command('lab')
  .description(
    'disposable local hosts that mirror the inventory (real Debian 13, systemd, sshd, UFW, Docker)',
  );
lab
  .command('up')
  .description('create (or keep) one lab host per inventory host, fresh like a new VPS')
  .option('--json', 'print the lab state as JSON')
  .addHelpText('after', '\nExamples:\n  infra lab up\n  infra lab up && infra --lab bootstrap toucan')
  .action((o: { json?: boolean }) =>
    run(async () => (await import('./commands/lab-entry.js')).labUp(globals(), !!o.json)),
  );
lab
  .command('down')
  .description('remove every container, network and volume the lab created')
  .option('--images', 'also remove the cached lab images')
  .addHelpText('after', '\nExamples:\n  infra lab down\n  infra lab down --images')
  .action((o: { images?: boolean }) =>
    run(async () => (await import('./commands/lab-entry.js')).labDown(globals(), !!o.images)),
  );
lab
  .command('status')
  .description('list lab hosts, their addresses and state')
  .option('--json', 'SSH address, port, user and key file of each host (for OpenSSH, Ansible, …)')
  .addHelpText('after', '\nExamples:\n  infra lab status\n  infra lab status --json | jq .hosts')
  .action((o: { json?: boolean }) =>
    run(async () => (await import('./commands/lab-entry.js')).labStatus(globals(), !!o.json)),
  );
lab
  .command('reset')
  .description('return one lab host to fresh (new container, new host key)')
  .argument('<host>', 'host name from the inventory')
  .addHelpText('after', '\nExamples:\n  infra lab reset hornbill')
  .action((host: string) =>
    run(async () => (await import('./commands/lab-entry.js')).labReset(globals(), host)),
  );
lab
  .command('reboot')
  .description('reboot one lab host for real: systemd halts and boots again, nothing else runs')
  .argument('<host>', 'host name from the inventory')
  .addHelpText(
    'after',
    '\nExits 1 if the host booted "degraded" (a unit failed); it names the failed units.\n\nExamples:\n  infra lab reboot hornbill\n  infra lab reboot hornbill && infra --lab check',
  )
  .action((host: string) =>
    run(async () => (await import('./commands/lab-entry.js')).labReboot(globals(), host)),
  );

program.parseAsync(process.argv);
