import { errorMessage, InfraError, isInfraError, UnreachableError } from '../errors.js';
import type { Redactor } from '../secrets.js';
import type { Transport } from '../transport/types.js';
import {
  type Emit,
  type EngineEvent,
  type HostResult,
  hostStatusOf,
  type Mode,
  type TaskResult,
} from './events.js';
import type { Guard } from './guard.js';
import { acquireLock } from './lock.js';
import { runTasks } from './run-tasks.js';
import type { AnyTask } from './task.js';

export interface Connected {
  transport: Transport;
  /** Which path answered: "tailnet 100.77.0.10" or "public 10.77.0.10". */
  via: string;
  hostKeyRecorded?: string;
}

export interface FleetOptions {
  hosts: string[];
  mode: Mode;
  /**
   * The tasks for a host; may throw an InfraError to refuse (e.g. a Postgres major change). It may
   * load the task modules first: the SSH handshakes are already under way by then.
   */
  plan(host: string): AnyTask[] | Promise<AnyTask[]>;
  connect(host: string): Promise<Connected>;
  guard?(host: string, connected: Connected): Guard | undefined;
  /**
   * Resources outside the host that follow it (the tunnel's routes at Cloudflare): compared,
   * or in apply made to match, once the host's own tasks are done; given their results.
   */
  beyond?(host: string, results: readonly TaskResult[]): Promise<TaskResult[]>;
  /** Checks made from this machine rather than on the host (is public SSH closed?). */
  outside?(host: string): Promise<TaskResult[]>;
  /** Who we are, written into the host lock so a second run can name us. */
  lockOwner?: string;
  emit: Emit;
  redactor: Redactor;
  /** Hosts in flight at once (default: all of them; the handshake gate below bounds the start). */
  concurrency?: number;
  /**
   * SSH handshakes under way at once (default PARALLEL_HANDSHAKES). A host holds its slot only
   * while it connects, so a 200-host fleet never opens 200 connections in the same instant (a
   * SYN burst the operator's own network or firewall may drop) yet still probes every host at once.
   */
  parallel?: number;
}

/** Handshakes at once by default: far more than 2 cores need, few enough for any home router. */
export const PARALLEL_HANDSHAKES = 32;

/** At most `n` calls of `gate` running at once; the others wait their turn, first come first served. */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((go) => waiting.push(go));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next)
        next(); // the slot passes straight on
      else active--;
    }
  };
}

/** Runs every host in parallel (bounded); one host failing never stops or alters another. */
export async function runFleet(o: FleetOptions): Promise<HostResult[]> {
  const emit: Emit = (e: EngineEvent) => o.emit(o.redactor.redactValue(e));
  const queue = [...o.hosts];
  const results = new Map<string, HostResult>();
  const gate = limiter(o.parallel ?? PARALLEL_HANDSHAKES);
  const connect = (host: string) => gate(() => o.connect(host));
  const worker = async () => {
    for (let host = queue.shift(); host; host = queue.shift())
      results.set(host, await runHost(host, { ...o, connect }, emit));
  };
  await Promise.all(
    Array.from({ length: Math.min(o.concurrency ?? o.hosts.length, o.hosts.length) }, worker),
  );
  return o.hosts.map((h) => results.get(h)!);
}

async function runHost(host: string, o: FleetOptions, emit: Emit): Promise<HostResult> {
  const started = Date.now();
  emit({ type: 'host-start', host });
  let connected: Connected | undefined;
  const done = (partial: Omit<HostResult, 'host' | 'durationMs' | 'stats'>): HostResult => {
    const result: HostResult = {
      host,
      durationMs: Date.now() - started,
      stats: connected ? { ...connected.transport.stats } : { connections: 0, execs: 0 },
      ...partial,
    };
    emit({ type: 'host-done', result });
    return result;
  };
  let release: (() => Promise<void>) | undefined;
  // The handshake is mostly waiting on the host: plan meanwhile.
  const connecting = o.connect(host);
  connecting.catch(() => {}); // awaited below, or closed in `finally` when planning fails
  try {
    // Look from outside while the host is probed; an apply that changed something looks again after.
    const early = o.outside?.(host);
    early?.catch(() => {});
    const tasks = await o.plan(host);
    connected = await connecting;
    emit({ type: 'host-connected', host, via: connected.via, hostKeyRecorded: connected.hostKeyRecorded });
    if (o.mode === 'apply') release = await acquireLock(connected.transport, host, o.lockOwner ?? 'infra');
    const tasksResults = await runTasks(
      host,
      connected.transport,
      tasks,
      o.mode,
      emit,
      o.guard?.(host, connected),
    );
    for (const r of (await o.beyond?.(host, tasksResults)) ?? []) {
      emit({ type: 'task', host, result: r });
      tasksResults.push(r);
    }
    const changed = tasksResults.some((t) => t.status === 'changed');
    const outside = (await (o.mode === 'apply' && changed ? o.outside?.(host) : early)) ?? [];
    for (const result of outside) {
      // After apply, public SSH still answering is a failure of this run, not drift to report.
      const r =
        o.mode === 'apply' && result.status === 'drift'
          ? { ...result, status: 'failed' as const, error: 'still open after apply' }
          : result;
      emit({ type: 'task', host, result: r });
      tasksResults.push(r);
    }
    return done({ status: hostStatusOf(tasksResults), tasks: tasksResults });
  } catch (e) {
    if (!isInfraError(e)) emit({ type: 'note', host, message: `bug: ${(e as Error)?.stack ?? String(e)}` });
    return done({
      status: e instanceof UnreachableError ? 'unreachable' : 'failed',
      tasks: [],
      error: errorMessage(e),
      hint: e instanceof InfraError ? e.hint : undefined,
    });
  } finally {
    await release?.().catch(() => {});
    await (connected ?? (await connecting.catch(() => undefined)))?.transport.close().catch(() => {});
  }
}
