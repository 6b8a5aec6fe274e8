import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { InfraError } from '../errors.js';

/**
 * Shell completion. The scripts are small and call back into `infra __complete -- LINE` (the
 * command line up to the cursor), which walks commander's own command tree — so verbs and flags
 * never go stale — and reads host and app names from the inventory with a bare YAML parse (no
 * validation, no SSH library: it answers in the time node takes to start). Written here rather
 * than taken from a library: tabtab/@pnpm/tabtab install into the user's rc files and know no
 * commander, omelette is unmaintained, and @bomb.sh/tab (0.0.x) was still reworking its
 * commander adapter's option handling; what is needed is about a hundred lines.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(shell: string): string {
  if (shell === 'bash')
    return `# infra completion for bash: source <(infra completion bash)
_infra_complete() {
  local line=\${COMP_LINE:0:COMP_POINT} cur IFS=$'\\n'
  cur=\${line##*[[:space:]]}
  local -a cands
  cands=($("\${COMP_WORDS[0]}" __complete -- "$line" 2>/dev/null))
  # bash splits words at ':' (COMP_WORDBREAKS): offer only what follows the token's last ':'.
  if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
    local pre=\${cur%"\${cur##*:}"}
    cands=("\${cands[@]#"$pre"}")
  fi
  COMPREPLY=("\${cands[@]}")
}
complete -o default -F _infra_complete infra
`;
  if (shell === 'zsh')
    return `#compdef infra
# infra completion for zsh: source <(infra completion zsh)
_infra() {
  local -a cands
  cands=("\${(@f)$(\${words[1]} __complete -- "\${(j: :)words[1,CURRENT]}" 2>/dev/null)}")
  (( \${#cands} )) && [[ -n $cands[1] ]] && compadd -- "\${cands[@]}" || _files
}
if (( $+functions[compdef] )); then compdef _infra infra; fi
`;
  if (shell === 'fish')
    return `# infra completion for fish: infra completion fish | source
function __infra_complete
    infra __complete -- (commandline -cp)
end
complete -c infra -f -a '(__infra_complete)'
`;
  throw new InfraError(`no completion for shell ${JSON.stringify(shell)}`, `shells: ${SHELLS.join(', ')}`);
}

export interface Names {
  hosts: string[];
  apps: string[];
  roles: string[];
}

/** Host, app and role names from the inventory file; nothing when it does not read (completion never errors). */
export function inventoryNames(file: string): Names {
  try {
    const doc = parse(readFileSync(file, 'utf8')) as {
      hosts?: Record<string, { role?: unknown } | null>;
      apps?: Record<string, unknown>;
    };
    const hosts = Object.entries(doc?.hosts ?? {});
    return {
      hosts: hosts.map(([h]) => h),
      apps: Object.keys(doc?.apps ?? {}),
      roles: [...new Set(hosts.map(([, h]) => h?.role).filter((r): r is string => typeof r === 'string'))],
    };
  } catch {
    return { hosts: [], apps: [], roles: [] };
  }
}

/** Commands whose NAME argument is an existing app (add-app's is a new one). */
const APP_COMMANDS = new Set(['backup', 'backups', 'restore', 'url', 'psql', 'remove-app', 'upgrade-pg']);

function argValues(cmd: Command, arg: string, n: Names): string[] {
  if (arg === 'host' || arg === 'hosts') return n.hosts;
  if (arg === 'name' && APP_COMMANDS.has(cmd.name())) return n.apps;
  if (arg === 'target' && cmd.name() === 'run')
    return ['all', ...n.roles.map((r) => `role:${r}`), ...n.hosts];
  if (arg === 'target' && cmd.name() === 'logs') return n.apps;
  if (arg === 'shell') return [...SHELLS];
  if (arg === 'stack') return ['observability', 'glitchtip', 'dokploy'];
  return [];
}

const visible = (cmd: Command) => cmd.commands.filter((c) => !c.name().startsWith('__'));

/**
 * Pure: the candidates for the last word of `line` (the command line up to the cursor).
 * `names(file)` gives the inventory's names, the file being `-i`'s value when the line has one.
 */
export function complete(program: Command, line: string, names: (inventory?: string) => Names): string[] {
  const words = line.split(/\s+/).filter((w, i, all) => w !== '' || i === all.length - 1);
  words.shift(); // the program's own name
  const cur = words.pop() ?? '';
  let cmd = program;
  let inventory: string | undefined;
  let pending: string | undefined; // an option waiting for its value
  let positional = 0;
  const findOption = (flag: string) =>
    [...cmd.options, ...program.options].find((o) => o.long === flag || o.short === flag);
  for (const w of words) {
    if (pending) {
      if (pending === '--inventory') inventory = w;
      pending = undefined;
    } else if (w.startsWith('-')) {
      const [flag, value] = w.split('=', 2);
      const o = findOption(flag!);
      if (o?.long === '--inventory' && value !== undefined) inventory = value;
      if (o && (o.required || o.optional) && value === undefined) pending = o.long;
    } else {
      const sub = positional === 0 ? visible(cmd).find((c) => c.name() === w) : undefined;
      if (sub) cmd = sub;
      else positional++;
    }
  }
  let cands: string[];
  if (pending) cands = pending === '--host' ? names(inventory).hosts : [];
  else if (cur.startsWith('-'))
    cands = [...cmd.options, ...(cmd === program ? [] : program.options)]
      .filter((o) => !o.hidden && o.long)
      .map((o) => o.long!)
      .concat('--help');
  else if (visible(cmd).length && positional === 0) cands = visible(cmd).map((c) => c.name());
  else {
    const args = cmd.registeredArguments;
    const last = args.at(-1);
    const arg = args[positional] ?? (last?.variadic ? last : undefined);
    cands = arg ? argValues(cmd, arg.name(), names(inventory)) : [];
  }
  return [...new Set(cands)].filter((c) => c.startsWith(cur)).sort();
}
