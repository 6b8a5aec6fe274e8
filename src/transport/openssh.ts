import { spawn } from 'node:child_process';
import { type Path, pathsFor } from '../engine/connect.js';
import { HostFacts } from '../engine/facts.js';
import { InfraError } from '../errors.js';
import type { Host, Inventory } from '../inventory/types.js';
import { shq } from '../quote.js';
import { redactLines } from '../report/stream.js';
import type { Redactor } from '../secrets.js';
import { hostPattern, type KnownHost, readKnownHosts } from './known-hosts.js';
import { tcpAnswers } from './tcp-probe.js';

/**
 * The system's OpenSSH, for what needs a real terminal or a live stream (`infra ssh`,
 * `infra logs -f`), over the same path and with the same pins as infra's own connections.
 *
 * Host keys: infra pins each key under the host's inventory name as well as the address it
 * first answered on (src/transport/ssh.ts), so, for an address not pinned itself,
 * `HostKeyAlias=NAME` makes OpenSSH look the key up under that name — the tailnet address is
 * never recorded when the key already matched by name. ssh_config(5), HostKeyAlias: "an alias that should be used
 * instead of the real host name when looking up or saving the host key"; with the alias set,
 * OpenSSH looks it up as given, without the `[host]:port` form (sshconnect.c,
 * get_hostfile_hostname_ipaddr). StrictHostKeyChecking=yes: an unknown or changed key refuses.
 */
export function opensshArgv(
  inv: Inventory,
  host: Host,
  address: string,
  o: { tty: boolean; remote?: string; alias?: string },
): string[] {
  return [
    ...(o.tty ? ['-t'] : []),
    ...['-o', `UserKnownHostsFile=${inv.knownHostsFile}`],
    ...['-o', 'StrictHostKeyChecking=yes'],
    ...(o.alias ? ['-o', `HostKeyAlias=${o.alias}`] : []),
    ...['-o', 'ConnectTimeout=10'],
    ...['-p', String(host.ssh.port)],
    ...(host.ssh.key ? ['-i', host.ssh.key, '-o', 'IdentitiesOnly=yes'] : []),
    '-l',
    host.ssh.user,
    '--',
    address,
    ...(o.remote === undefined ? [] : [o.remote]),
  ];
}

/** A script for OpenSSH's remote command: run by /bin/sh, as root (sudo -n for other users). */
export function asRoot(host: Host, script: string): string {
  return host.ssh.user === 'root' ? `sh -c ${shq(script)}` : `sudo -n sh -c ${shq(script)}`;
}

/** Pure: the first path that answered, else the last one (its error is then OpenSSH's to tell). */
export function pickPath(paths: readonly Path[], answered: readonly boolean[]): Path {
  return paths.find((_, i) => answered[i]) ?? paths.at(-1)!;
}

/** The tailnet once known and answering (public SSH closes after bootstrap), else the public address. */
export async function choosePath(inv: Inventory, host: Host): Promise<Path> {
  const paths = pathsFor(host, HostFacts.load(inv.stateDir));
  if (paths.length === 1) return paths[0]!;
  const answered = await Promise.all(paths.map((p) => tcpAnswers(p.address, host.ssh.port, 3000)));
  return pickPath(paths, answered);
}

/**
 * Pure: under which name OpenSSH finds the pinned key. The address itself when it is pinned
 * (the lab's known_hosts names addresses); else the inventory name, which infra pins beside the
 * first address (`HostKeyAlias`). OpenSSH here never records a key (StrictHostKeyChecking=yes),
 * so a host infra has not pinned yet is refused up front, with the way to pin it.
 */
export function pinnedAs(
  entries: readonly KnownHost[],
  inv: Inventory,
  host: Host,
  address: string,
): string | undefined {
  const has = (name: string) => entries.some((e) => e.patterns.includes(name));
  if (has(hostPattern(address, host.ssh.port))) return undefined;
  if (has(host.name)) return host.name;
  throw new InfraError(
    `no pinned host key for ${host.name} (${address}) in ${inv.knownHostsFile} yet`,
    `run infra${inv.lab ? ' --lab' : ''} check ${host.name} once: it records the key and prints its fingerprint`,
  );
}

/** OpenSSH's arguments for a host: the path that answers and the name its key is pinned under. */
export async function opensshFor(
  inv: Inventory,
  host: Host,
  o: { tty: boolean; remote?: string },
): Promise<string[]> {
  const path = await choosePath(inv, host);
  const alias = pinnedAs(readKnownHosts(inv.knownHostsFile), inv, host, path.address);
  return opensshArgv(inv, host, path.address, { ...o, alias });
}

/**
 * Runs OpenSSH and resolves with its exit code (255: ssh's own failure). Attached to this
 * terminal for a shell; with a redactor, its output goes through it line by line (logs).
 */
export function runOpenssh(argv: string[], redactor?: Redactor): Promise<number> {
  return new Promise((resolve, reject) => {
    // Ctrl-C belongs to the remote side (or ends ssh itself): infra waits for ssh's exit code.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    const child = spawn('ssh', argv, { stdio: redactor ? ['inherit', 'pipe', 'pipe'] : 'inherit' });
    const piped = redactor
      ? Promise.all([
          redactLines(child.stdout!, process.stdout, redactor),
          redactLines(child.stderr!, process.stderr, redactor),
        ])
      : Promise.resolve();
    child.on('error', (e) => {
      process.off('SIGINT', ignore);
      reject(
        new InfraError(
          `cannot run ssh: ${e.message}`,
          'install the OpenSSH client (apt install openssh-client)',
        ),
      );
    });
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      void piped.then(() => resolve(code ?? (signal === 'SIGINT' ? 130 : 1)));
    });
  });
}
