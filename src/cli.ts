import { Command } from 'commander';
import type { ConvergeOptions, GlobalOptions } from './commands/converge.js';

// Command modules are imported inside their actions: `infra --help` must not load ssh2.
const program = new Command('infra')
  .description(
    'Provision a small fleet over SSH from one inventory file, and report exactly what changed or drifted.',
  )
  .option('-i, --inventory <file>', 'inventory file (default: ./inventory.yaml or $INFRA_INVENTORY)')
  .option('--lab', 'run against the local lab (infra lab up) instead of the real hosts')
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
  .addHelpText(
    'after',
    '\nExamples:\n  infra apply\n  infra apply hornbill --dry-run\n  infra --lab apply --json',
  )
  .action((hosts: string[], o: ConvergeOptions & { dryRun?: boolean }) =>
    run(async () =>
      (await import('./commands/converge.js')).converge(o.dryRun ? 'plan' : 'apply', globals(), hosts, o),
    ),
  );

program
  .command('bootstrap')
  .description('take a host (fresh VPS or converged) to its full role, safely: the first command on a new server')
  .argument('<host>', 'host name from the inventory')
  .option('--dry-run', 'show the plan and diffs, change nothing; exit 2 when changes are pending')
  .option('--json', 'print one JSON document instead of lines')
  .option('-v, --verbose', 'also list tasks that are already in sync')
  .option('--guard-timeout <seconds>', 'seconds before a firewall/sshd/Tailscale SSH change rolls itself back', '60')
  .addHelpText(
    'after',
    '\nConnects over the public address until the host is on the tailnet, over the tailnet after.\n\nExamples:\n  infra bootstrap toucan\n  infra --lab bootstrap hornbill --dry-run',
  )
  .action((host: string, o: ConvergeOptions & { dryRun?: boolean }) =>
    run(async () => (await import('./commands/converge.js')).converge(o.dryRun ? 'plan' : 'apply', globals(), [host], o)),
  );

program
  .command('check')
  .description('read-only drift report: one probe round trip per host, nothing changed')
  .argument('[hosts...]', 'host names from the inventory')
  .option('--json', 'print one JSON document (schema in the README)')
  .option('-v, --verbose', 'also list tasks that are in sync')
  .addHelpText('after', '\nExamples:\n  infra check\n  infra check hornbill --json')
  .action((hosts: string[], o: ConvergeOptions) =>
    run(async () => (await import('./commands/converge.js')).converge('check', globals(), hosts, o)),
  );

const inventory = program.command('inventory').description('work with the inventory file');
inventory
  .command('validate')
  .description('report every problem in the inventory (file:line:col), exit 1 if any')
  .addHelpText('after', '\nExamples:\n  infra inventory validate\n  infra -i staging.yaml inventory validate')
  .action(() => run(async () => (await import('./commands/inventory.js')).validate(globals())));

const lab = program
  .command('lab')
  .description('disposable local hosts that mirror the inventory (real Debian 13, systemd, sshd, UFW, Docker)');
lab
  .command('up')
  .description('create (or keep) one lab host per inventory host, fresh like a new VPS')
  .option('--json', 'print the lab state as JSON')
  .addHelpText('after', '\nExamples:\n  infra lab up\n  infra lab up && infra --lab bootstrap toucan')
  .action((o: { json?: boolean }) => run(async () => (await import('./commands/lab-entry.js')).labUp(globals(), !!o.json)));
lab
  .command('down')
  .description('remove every container, network and volume the lab created')
  .option('--images', 'also remove the cached lab images')
  .addHelpText('after', '\nExamples:\n  infra lab down\n  infra lab down --images')
  .action((o: { images?: boolean }) => run(async () => (await import('./commands/lab-entry.js')).labDown(globals(), !!o.images)));
lab
  .command('status')
  .description('list lab hosts, their addresses and state')
  .option('--json', 'SSH address, port, user and key file of each host (for OpenSSH, Ansible, …)')
  .addHelpText('after', '\nExamples:\n  infra lab status\n  infra lab status --json | jq .hosts')
  .action((o: { json?: boolean }) => run(async () => (await import('./commands/lab-entry.js')).labStatus(globals(), !!o.json)));
lab
  .command('reset')
  .description('return one lab host to fresh (new container, new host key)')
  .argument('<host>', 'host name from the inventory')
  .addHelpText('after', '\nExamples:\n  infra lab reset hornbill')
  .action((host: string) => run(async () => (await import('./commands/lab-entry.js')).labReset(globals(), host)));

program.parseAsync(process.argv);
