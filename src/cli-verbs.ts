import type { Command } from 'commander';
import type { GlobalOptions } from './commands/shared.js';

/**
 * The everyday verbs (docs/verbs.md): status, ssh, run, logs, completion. Registered by cli.ts
 * in its own order; like every command, each imports its module inside its action.
 */
export function addEverydayVerbs(
  program: Command,
  globals: () => GlobalOptions,
  run: (action: () => Promise<number>) => Promise<void>,
): void {
  program
    .command('status')
    .description(
      'each host at a glance: OS, kernel, uptime, pending reboot and security upgrades, disks, memory, apps, stacks',
    )
    .argument('[hosts...]', 'host names from the inventory (default: all)')
    .option('--json', 'print one JSON document (schema in docs/verbs.md)')
    .option('--disk-warn <percent>', 'warn when a filesystem is at least this full', '85')
    .addHelpText(
      'after',
      "\nOne read-only round trip per host. Exit 0 nothing to flag, 2 something flagged, 1 a host not read.\n\nExamples:\n  infra status\n  infra status hornbill --disk-warn 70\n  infra status --json | jq '.hosts[] | {name, warnings}'",
    )
    .action((hosts: string[], o: { json?: boolean; diskWarn?: string }) =>
      run(async () => (await import('./commands/status.js')).status(globals(), hosts, o)),
    );

  program
    .command('ssh')
    .description("OpenSSH to a host over infra's path (tailnet once known) with the pinned host keys")
    .argument('<host>', 'host name from the inventory')
    .argument('[command...]', 'after --: one command instead of a shell')
    .addHelpText(
      'after',
      '\nExamples:\n  infra ssh hornbill\n  infra ssh hornbill -- uptime\n  infra --lab ssh toucan -- docker ps',
    )
    .action((host: string, command: string[]) =>
      run(async () => (await import('./commands/ssh.js')).ssh(globals(), host, command)),
    );

  program
    .command('run')
    .description('one command on a host, a role or all hosts at once, as root; output grouped per host')
    .argument('<target>', 'a host, role:ROLE or all (comma-separated for several)')
    .argument('<command...>', 'after --: the command, run by /bin/sh on each host as you typed it')
    .option('--json', 'print one JSON document')
    .option('--timeout <seconds>', 'give up on a host after this long', '600')
    .addHelpText(
      'after',
      "\nExit 1 if the command failed (or did not run) on any host.\n\nExamples:\n  infra run all -- uptime\n  infra run role:apps -- 'df -h / | tail -n1'\n  infra run hornbill,toucan -- 'echo \"$((1+1))\"'",
    )
    .action((target: string, command: string[], o: { json?: boolean; timeout?: string }) =>
      run(async () => (await import('./commands/run.js')).run(globals(), target, command, o)),
    );

  program
    .command('logs')
    .description("an app's PostgreSQL or a stack's service logs, from Docker on its host")
    .argument('<target>', 'an app (beanstock) or STACK/SERVICE (glitchtip/web)')
    .option('-f, --follow', 'keep following (Ctrl-C ends)')
    .option('--since <when>', 'only since: 10m, 1h, 2026-01-02T15:04:05Z, …')
    .option('-n, --tail <lines>', 'only the last lines')
    .option('--host <host>', 'for a stack on several hosts (alloy): which one')
    .addHelpText(
      'after',
      '\nExamples:\n  infra logs beanstock\n  infra logs glitchtip/web -f --since 10m\n  infra logs alloy/alloy --host hornbill -n 50',
    )
    .action((target: string, o: import('./commands/logs.js').LogsOptions) =>
      run(async () => (await import('./commands/logs.js')).logs(globals(), target, o)),
    );

  program
    .command('completion')
    .description('print a shell completion script (verbs, flags, host and app names)')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText(
      'after',
      '\nExamples:\n  source <(infra completion bash)     # in ~/.bashrc\n  source <(infra completion zsh)      # in ~/.zshrc\n  infra completion fish > ~/.config/fish/completions/infra.fish',
    )
    .action((shell: string) =>
      run(async () => {
        process.stdout.write((await import('./commands/completion.js')).completionScript(shell));
        return 0;
      }),
    );

  // What the completion scripts call: candidates for the last word of the line, one per line.
  program
    .command('__complete', { hidden: true })
    .argument('[line...]')
    .action((line: string[]) =>
      run(async () => {
        const c = await import('./commands/completion.js');
        const { defaultInventoryPath } = await import('./inventory/load.js');
        const words = c.complete(program, line.join(' '), (file) =>
          c.inventoryNames(file ?? defaultInventoryPath()),
        );
        process.stdout.write(words.map((w) => `${w}\n`).join(''));
        return 0;
      }),
    );
}
