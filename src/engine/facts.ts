import { type Learned, readLearned, saveLearned } from './connect.js';
import type { Facts } from './task.js';

/**
 * What infra learned about the hosts (`.infra/hosts.json`: tailnet addresses, the keys Dokploy and
 * the backup pull made, PITR's verifiers and sources), as one value: a command loads it once and
 * passes it to the planning (roles), the connections, the lockout guard and the public-SSH check;
 * a task that learns something updates it in memory, so the rest of the run (the guard proving
 * the tailnet path, a follow-up plan on the control host) sees it without reading the file back.
 * The command saves each host's facts as soon as they are learned: a run killed half-way must not
 * forget the tailnet address that the next run reaches the host by once public SSH is closed.
 */
export class HostFacts {
  private constructor(
    readonly stateDir: string,
    private readonly all: Learned,
  ) {}

  static load(stateDir: string): HostFacts {
    return new HostFacts(stateDir, readLearned(stateDir));
  }

  of(host: string): Readonly<Facts> | undefined {
    return this.all[host];
  }

  /** In memory: what a task of `host` learned, over what was known. */
  learn(host: string, facts: Facts): void {
    const before = this.all[host];
    this.all[host] = { ...before, ...facts };
    // Per app, one task each (tasks/analytics-subscriber.ts): merged, an app `undefined` removed.
    if (facts.analyticsTables)
      this.all[host]!.analyticsTables = JSON.parse(
        JSON.stringify({ ...before?.analyticsTables, ...facts.analyticsTables }),
      ) as Record<string, string[]>;
  }

  /** To `.infra/hosts.json`: this host's facts, merged into the file as it is now (other hosts kept). */
  save(host: string): void {
    const facts = this.all[host];
    if (facts) saveLearned(this.stateDir, host, facts);
  }
}

/** The facts a command was given, or (a caller outside a command: a test, a one-off) the file's. */
export const factsOf = (stateDir: string, given?: HostFacts): HostFacts => given ?? HostFacts.load(stateDir);
