/** One difference between a host and the inventory, with how it reads to a human and to a machine. */
export interface Change {
  /** One line: "install ufw", "remove rule allow 8080/tcp (not in the inventory)". */
  summary: string;
  /** Stable class for `check --json`: package-missing, rule-extra, content, … */
  kind: string;
  expected?: unknown;
  actual?: unknown;
  /** Unified diff, for files. */
  diff?: string;
}

/** A command of an apply: a script for remote sh, its stdin (secrets, file contents). */
export interface Step {
  script: string;
  stdin?: string;
  timeoutMs?: number;
  /**
   * A change infra will not make, as data (tasks/lib/refuse.ts): the engine fails the task with
   * this reason before running any of its steps; `script` is never sent.
   */
  refuse?: string;
}

/**
 * A resource on a host. A task never connects and never prints: the engine batches every probe of
 * a host into one round trip, feeds each its own output, and runs apply steps only for what differs.
 */
export interface Task<S = unknown> {
  /** Unique on the host, named by its noun: "packages", "file:/etc/ssh/sshd_config.d/00-infra.conf". */
  id: string;
  /**
   * Tasks whose work this one needs (see `safe`); when one of them changed, this task is probed
   * again before apply. When one of them failed or was skipped, this task is skipped unless its
   * own probe shows it in sync or the dependency's `safe` holds (docs/bootstrap.md, "skip rule").
   */
  after?: string[];
  /** Read-only shell snippet that prints the current state. */
  probe: string;
  /** Shared reads the probe uses (as shell variables); each runs once per batch, whoever needs it. */
  reads?: readonly SharedRead[];
  /** Pure: probe stdout in, state out. */
  parse(stdout: string): S;
  /** Pure: state in, changes out; [] means in sync. */
  diff(state: S): Change[];
  /** The steps that make the changes; the engine probes again afterwards to verify. */
  apply(state: S, changes: Change[]): Step[];
  /**
   * For changes that can cut the operator's SSH path (firewall, sshd, Tailscale SSH): the script
   * that restores the probed state. The engine arms it as a dead-man switch before applying.
   */
  rollback?(state: S): string;
  /**
   * Pure: what is worth telling about the state as first probed that is not drift (nothing for
   * apply to do, exit code unchanged): printed as warnings before the recap, `warnings` in --json.
   */
  warnings?(state: S): string[];
  /** Facts the operator's side keeps from this task's state (the host's tailnet address). */
  learn?(state: S): Facts;
  /**
   * Pure: what this task's dependents rely on it for already holds on the host, although the
   * task itself differs or just failed (UFW enabled with a closed incoming default, whatever
   * its rule list). The engine asks it of the state as probed (a skipped task) or probed again
   * (a failed one: its apply may have left things half done). Absent: only "in sync" counts.
   */
  safe?(state: S): boolean;
  /**
   * Pure: the task cannot converge until something outside this host exists (another host's
   * tailnet address). Reported as `waiting`, never applied; the run exits 2 (pending), not 1.
   */
  wait?(state: S): Wait | undefined;
}

/** What a waiting task waits for, and the command that ends the wait. */
export interface Wait {
  /** "toucan" */
  on: string;
  /** "infra bootstrap toucan" */
  run: string;
}

/** The one line a waiting task reads as, in every reporter. */
export const waitMessage = (w: Wait) => `waiting for ${w.on}: run ${w.run}`;

/**
 * One read that several probes of a host share (the container list, say): its script's stdout is
 * stored in the shell variable `name` before any probe runs, so the probes filter it instead of
 * each asking again. It may use the variables of the reads it lists in `reads`. A gathering read
 * (`script` a function) is asked once for what every task using it adds in `args`: one
 * `systemctl show` for all units of the host rather than one per unit.
 */
export interface SharedRead {
  /** A shell variable name, unique per read: `infra_containers`. */
  name: string;
  script: string | ((args: readonly string[]) => string);
  /** This task's share of a gathering read. */
  args?: readonly string[];
  reads?: readonly SharedRead[];
}

/** A shared read as it runs in one batch: gathered, its script final. */
export interface BatchRead {
  name: string;
  script: string;
}

/**
 * A probe as a value: its script and the shared reads it uses, built together (tasks/lib/probe.ts)
 * so a probe that filters `$infra_containers` cannot leave out the read that sets it.
 */
export interface Probe {
  script: string;
  reads: readonly SharedRead[];
}

/** Shell that sets each read's variable, in order (also for apply steps that poll outside a batch). */
export function readsScript(reads: readonly BatchRead[]): string {
  return reads.map((r) => `${r.name}=$( (\n${r.script}\n) </dev/null 2>/dev/null )`).join('\n');
}

/**
 * Pure: the shared reads of these tasks, each once, every read after the reads it uses; a
 * gathering read is built from the union of every task's args (sorted, so the script is stable).
 */
export function sharedReadsOf(tasks: readonly { reads?: readonly SharedRead[] }[]): BatchRead[] {
  const order: string[] = [];
  const byName = new Map<string, { read: SharedRead; args: Set<string> }>();
  const add = (r: SharedRead) => {
    const seen = byName.get(r.name);
    if (seen && seen.read.script !== r.script) throw new Error(`two shared reads named ${r.name}`);
    for (const dep of r.reads ?? []) add(dep);
    if (!seen) {
      byName.set(r.name, { read: r, args: new Set(r.args) });
      order.push(r.name);
    } else for (const a of r.args ?? []) seen.args.add(a);
  };
  for (const t of tasks) for (const r of t.reads ?? []) add(r);
  return order.map((name) => {
    const { read, args } = byName.get(name)!;
    return { name, script: typeof read.script === 'string' ? read.script : read.script([...args].sort()) };
  });
}

export interface Facts {
  tailnetAddress?: string;
  /** The control host's public key for pulling backups (its apps hosts authorize it, read-only). */
  backupPullKey?: string;
  /** The control host's Dokploy SSH public key, for the apps hosts' deploy user. */
  dokployPublicKey?: string;
  /** The control host's SCRAM verifier of each app's WAL streaming password (tasks/pitr.ts). */
  pitrVerifiers?: Record<string, string>;
  /**
   * An apps host's apps ready to stream WAL to the control host, each with the verifier its role
   * has (tasks/pitr-source.ts); a list in state written before verifiers were learned.
   */
  pitrSources?: Record<string, string> | string[];
  /** The analytics host's SCRAM verifiers of the roles it logs in as on the apps (tasks/analytics-secrets.ts). */
  analyticsVerifiers?: { repl?: Record<string, string>; ro?: string };
  /**
   * Per app, the tables the analytics host's subscriber has (tasks/analytics-subscriber.ts): the
   * apps host publishes a new table only once it is there. An app absent: no subscription yet.
   */
  analyticsTables?: Record<string, string[]>;
  /**
   * An apps host's apps ready for the analytics host (replication: to subscribe to; direct: for
   * Metabase to connect to), with their role's verifier.
   */
  analyticsSources?: Record<string, string>;
}

/** Erases the state type so tasks of different resources fit in one list. */
// biome-ignore lint/suspicious/noExplicitAny: heterogeneous task lists need an erased state type
export type AnyTask = Task<any>;
