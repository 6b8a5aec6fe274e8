import { opensshFor, runOpenssh } from '../transport/openssh.js';
import { findHost, type GlobalOptions, loadFor } from './shared.js';

/**
 * `infra ssh HOST [-- CMD…]`: the system's OpenSSH to HOST over the path infra uses, with
 * infra's pinned known_hosts (and, with --lab, the lab's key). Like `ssh`, the words of CMD are
 * joined by spaces and run by the remote user's shell; with no CMD, a login shell.
 */
export async function ssh(g: GlobalOptions, hostName: string, cmd: string[]): Promise<number> {
  const inv = loadFor(g);
  const host = findHost(inv, hostName);
  const remote = cmd.length ? cmd.join(' ') : undefined;
  // A command gets a terminal only when we have one (so `infra ssh h -- top` works, and a pipe stays a pipe).
  const tty = remote !== undefined && !!process.stdin.isTTY && !!process.stdout.isTTY;
  return runOpenssh(await opensshFor(inv, host, { tty, remote }));
}
