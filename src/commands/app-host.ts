import { createInterface } from 'node:readline/promises';
import { connectHost } from '../engine/connect.js';
import type { Connected } from '../engine/run.js';
import { InfraError } from '../errors.js';
import type { App, Host, Inventory } from '../inventory/types.js';
import { Output } from '../report/output.js';
import type { Transport } from '../transport/types.js';
import { findHost, type GlobalOptions, loadFor, redactorFor } from './shared.js';

/** What the app verbs (backup, restore, db, remove-app, upgrade-pg) share: the app, its host, one connection. */
export interface AppSession {
  inv: Inventory;
  app: App;
  host: Host;
  out: Output;
  transport: Transport;
  /** The connection, for a converge run inside the same session (`ConvergeScope.over`). */
  connected: Connected;
  /** Runs a script; a non-zero exit becomes an InfraError naming `what` with the last stderr lines. */
  run(script: string, what: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<string>;
}

export function loadApps(g: GlobalOptions): Inventory {
  return loadFor(g);
}

export function findApp(inv: Inventory, name: string): App {
  const app = inv.apps.find((a) => a.name === name);
  if (!app)
    throw new InfraError(
      `no app named ${JSON.stringify(name)} in ${inv.file} (apps: ${inv.apps.map((a) => a.name).join(', ') || 'none'})`,
    );
  return app;
}

export async function withApp<T>(
  g: GlobalOptions,
  name: string,
  body: (s: AppSession) => Promise<T>,
  given?: { inv: Inventory; app: App },
): Promise<T> {
  const inv = given?.inv ?? loadApps(g);
  const app = given?.app ?? findApp(inv, name);
  const host = findHost(inv, app.host);
  const out = new Output(redactorFor(inv));
  const connected = await connectHost(inv, host);
  const { transport } = connected;
  const run = checkedRun(transport, host.name);
  try {
    return await body({ inv, app, host, out, transport, connected, run });
  } finally {
    await transport.close();
  }
}

/** A session's `run`: a non-zero exit becomes an InfraError naming `what` and the last stderr lines. */
export function checkedRun(transport: Transport, hostName: string): AppSession['run'] {
  return async (script, what, opts = {}) => {
    const r = await transport.exec(script, opts);
    if (r.code !== 0)
      throw new InfraError(
        `${what} failed on ${hostName} (exit ${r.code})${r.stderr.trim() ? `: ${lastLines(r.stderr)}` : ''}`,
      );
    return r.stdout;
  };
}

export function lastLines(text: string, n = 4): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/**
 * Asks on the terminal; `--yes` answers for scripts. Without a TTY and without --yes, refuses:
 * a destructive step never proceeds on an unanswered question.
 */
export async function confirm(question: string, expected: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new InfraError(
      `${question} — refusing without a terminal to ask`,
      'pass --yes to confirm in scripts',
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question}\nType ${JSON.stringify(expected)} to continue: `)).trim();
    if (answer !== expected) throw new InfraError('not confirmed; nothing was changed');
  } finally {
    rl.close();
  }
}
