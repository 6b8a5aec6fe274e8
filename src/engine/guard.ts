import { errorMessage } from '../errors.js';
import type { Host, Inventory } from '../inventory/types.js';
import { shq } from '../quote.js';
import type { Transport } from '../transport/types.js';
import { connectHost } from './connect.js';
import { factsOf, type HostFacts } from './facts.js';

/** How the engine proves the operator can still get in after a change that could cut the path. */
export interface Guard {
  /** Seconds after which the host undoes the change by itself unless infra disarms the switch. */
  timeoutSec: number;
  /** e.g. "tailnet 100.77.0.10" — for messages. */
  pathLabel: string;
  /** Opens a NEW SSH connection over the path that will remain and runs a command; throws if it cannot. */
  checkNewPath(): Promise<void>;
}

/**
 * The lockout guard proves the path that will remain: the tailnet once the host has an address
 * there (public SSH is about to close), else the public address. Read at check time, because
 * Tailscale may have come up earlier in the same run (the command's HostFacts, updated in
 * memory when the tailscale task learned the address). (The reconnect policy: was guardFor in
 * commands/converge.ts.)
 */
export function reconnectGuard(inv: Inventory, host: Host, timeoutSec: number, given?: HostFacts): Guard {
  const facts = factsOf(inv.stateDir, given);
  const remaining = () => (facts.of(host.name)?.tailnetAddress ? 'tailnet' : 'public');
  return {
    timeoutSec,
    get pathLabel() {
      return `the ${remaining()} path`;
    },
    async checkNewPath() {
      // A few tries within the first half of the timeout: a path that just came up (Tailscale
      // right after joining) may need a moment, and the rollback must not race the last try.
      const deadline = Date.now() + (timeoutSec * 1000) / 2;
      for (let attempt = 1; ; attempt++) {
        try {
          const c = await connectHost(inv, host, { only: remaining(), facts });
          try {
            const r = await c.transport.exec('true', { timeoutMs: 10_000 });
            if (r.code !== 0) throw new Error(`\`true\` exited ${r.code}`);
            return;
          } finally {
            await c.transport.close();
          }
        } catch (e) {
          if (attempt >= 3 || Date.now() + 3000 > deadline) throw e;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    },
  };
}

export interface Deadman {
  /** Roll back now (an apply step failed while the session is still alive). */
  fire(): Promise<void>;
  /** Prove the path with a new connection, then disarm; or wait out the rollback and say why. */
  confirm(): Promise<{ error: string } | undefined>;
}

/**
 * Arms a transient systemd timer on the host that runs `rollback` after guard.timeoutSec unless
 * disarmed. It survives the operator's process being killed: the host restores itself.
 */
export async function armDeadman(
  transport: Transport,
  guard: Guard,
  taskId: string,
  rollback: string,
): Promise<Deadman> {
  const unit = `infra-deadman-${taskId.replace(/[^A-Za-z0-9]+/g, '-')}`;
  const file = `/run/infra/${unit}.sh`;
  const arm = await transport.exec(
    [
      'mkdir -p /run/infra',
      `cat > ${shq(file)}`,
      `systemctl stop ${shq(`${unit}.timer`)} ${shq(`${unit}.service`)} >/dev/null 2>&1 || true`,
      `systemctl reset-failed ${shq(`${unit}.service`)} >/dev/null 2>&1 || true`,
      `systemd-run --quiet --unit=${shq(unit)} --on-active=${guard.timeoutSec} --timer-property=AccuracySec=1s /bin/sh ${shq(file)}`,
    ].join(' && '),
    { stdin: rollback },
  );
  if (arm.code !== 0) throw new Error(`could not arm the lockout guard: ${arm.stderr.trim()}`);
  const disarm = `systemctl stop ${shq(`${unit}.timer`)} >/dev/null 2>&1; rm -f ${shq(file)}`;
  return {
    async fire() {
      await transport.exec(`systemctl start ${shq(`${unit}.service`)}; ${disarm}`);
    },
    async confirm() {
      try {
        await guard.checkNewPath();
      } catch (e) {
        await new Promise((r) => setTimeout(r, (guard.timeoutSec + 3) * 1000));
        return {
          error: `lockout guard: a new SSH connection over ${guard.pathLabel} failed (${errorMessage(e)}); the host rolled the change back after ${guard.timeoutSec}s`,
        };
      }
      await transport.exec(disarm);
      return undefined;
    },
  };
}
