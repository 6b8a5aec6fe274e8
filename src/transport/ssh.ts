import { readFileSync } from 'node:fs';
import { NodeSSH } from 'node-ssh';
import type { ClientChannel } from 'ssh2';
import {
  CommandTimeoutError,
  errorMessage,
  HostKeyChangedError,
  InfraError,
  UnreachableError,
} from '../errors.js';
import { shq } from '../quote.js';
import { fingerprint, hostPattern, judgeHostKey, readKnownHosts, recordKnownHost } from './known-hosts.js';
import type { ExecOptions, ExecResult, Held, Transport } from './types.js';

export interface SshTarget {
  /** Inventory name: host keys are pinned under it too, so a new address keeps the same pin. */
  name: string;
  address: string;
  port: number;
  user: string;
  key?: string;
  knownHostsFile: string;
}

export interface SshOptions {
  connectTimeoutMs: number;
  /** Told when a host key is seen for the first time and recorded. */
  onHostKeyRecorded?: (fingerprint: string) => void;
}

const DEFAULT_EXEC_TIMEOUT_MS = 15 * 60_000;

/**
 * Key files read once per run, not once per handshake (node-ssh reads `privateKeyPath` anew on
 * each connect: 200 hosts, 200 reads of the same file). A file that cannot be read is left to
 * node-ssh, so its error still names the path.
 */
const keys = new Map<string, string | undefined>();
function keyOf(file: string): { privateKey: string } | { privateKeyPath: string } {
  if (!keys.has(file)) {
    try {
      keys.set(file, readFileSync(file, 'utf8'));
    } catch {
      keys.set(file, undefined);
    }
  }
  const privateKey = keys.get(file);
  return privateKey === undefined ? { privateKeyPath: file } : { privateKey };
}

export async function connectSsh(target: SshTarget, opts: SshOptions): Promise<Transport> {
  const ssh = new NodeSSH();
  const names = [target.name, hostPattern(target.address, target.port)];
  let changed: { expected: string[]; got: string } | undefined;
  let seenKey: Buffer | undefined;
  const label = `${target.user}@${hostPattern(target.address, target.port)}`;
  try {
    await ssh.connect({
      host: target.address,
      port: target.port,
      username: target.user,
      ...(target.key ? keyOf(target.key) : {}),
      agent: target.key ? undefined : process.env.SSH_AUTH_SOCK,
      readyTimeout: opts.connectTimeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        const verdict = judgeHostKey(readKnownHosts(target.knownHostsFile), names, key);
        if (verdict.kind === 'changed') {
          changed = { expected: verdict.expected, got: fingerprint(key) };
          return false;
        }
        if (verdict.kind === 'unknown') seenKey = key;
        return true;
      },
    });
  } catch (e) {
    ssh.dispose();
    if (changed) {
      throw new HostKeyChangedError(
        `host key of ${target.name} (${label}) changed: pinned ${changed.expected.join(', ')}, offered ${changed.got}`,
        `if the host was reinstalled on purpose, remove its lines from ${target.knownHostsFile} (ssh-keygen -R ${shq(target.name)} -f ${shq(target.knownHostsFile)}) and run again`,
      );
    }
    throw new UnreachableError(`cannot connect to ${target.name} at ${label}: ${describeConnectError(e)}`);
  }
  if (seenKey) {
    recordKnownHost(target.knownHostsFile, names, seenKey);
    opts.onHostKeyRecorded?.(fingerprint(seenKey));
  }
  const wrap = (script: string) =>
    target.user === 'root' ? `sh -c ${shq(script)}` : `sudo -n sh -c ${shq(script)}`;
  const stats = { connections: 1, execs: 0 };

  return {
    label,
    stats,
    async exec(script: string, o: ExecOptions = {}): Promise<ExecResult> {
      stats.execs++;
      let channel: ClientChannel | undefined;
      const timeoutMs = o.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
      let timer: NodeJS.Timeout | undefined;
      const run = ssh.execCommand(wrap(script), {
        stdin: o.stdin,
        noTrim: true,
        onChannel: (ch) => {
          channel = ch;
        },
      });
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          channel?.close();
          reject(
            new CommandTimeoutError(
              `a command on ${target.name} ran longer than ${Math.round(timeoutMs / 1000)}s`,
            ),
          );
        }, timeoutMs);
      });
      try {
        const r = await Promise.race([run, timeout]);
        if (
          r.code !== 0 &&
          target.user !== 'root' &&
          /sudo: (a password is required|a terminal is required)/.test(r.stderr)
        ) {
          throw new InfraError(
            `sudo on ${target.name} asks ${target.user} for a password`,
            `infra needs passwordless sudo: add "${target.user} ALL=(ALL) NOPASSWD:ALL" under /etc/sudoers.d/, or connect as root`,
          );
        }
        return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
      } catch (e) {
        if (e instanceof InfraError) throw e;
        throw new UnreachableError(`lost the connection to ${target.name} (${label}): ${errorMessage(e)}`);
      } finally {
        clearTimeout(timer);
      }
    },
    hold(script: string): Promise<Held> {
      return new Promise((resolve, reject) => {
        ssh.connection!.exec(wrap(script), (err, stream) => {
          if (err) return reject(new UnreachableError(`${target.name}: ${err.message}`));
          stats.execs++;
          let out = '';
          let ended = false;
          const listeners = new Set<() => void>();
          stream.on('data', (d: Buffer) => {
            out += d.toString();
            for (const l of listeners) l();
          });
          stream.stderr.on('data', () => {});
          stream.on('close', () => {
            ended = true;
            for (const l of listeners) l();
          });
          resolve({
            waitFor: (predicate, ms) =>
              new Promise((res, rej) => {
                const timer = setTimeout(
                  () => done(() => rej(new CommandTimeoutError(`no answer from ${target.name} in ${ms}ms`))),
                  ms,
                );
                const done = (f: () => void) => {
                  clearTimeout(timer);
                  listeners.delete(check);
                  f();
                };
                const check = () => {
                  if (predicate(out)) done(() => res(out));
                  else if (ended)
                    done(() =>
                      rej(new InfraError(`${target.name}: ${out.trim() || 'remote command ended'}`)),
                    );
                };
                listeners.add(check);
                check();
              }),
            release: async () => {
              stream.end();
            },
          });
        });
      });
    },
    async close() {
      ssh.dispose();
    },
  };
}

function describeConnectError(e: unknown): string {
  const m = errorMessage(e);
  if (/authentication methods failed/i.test(m))
    return 'the server refused our key (check ssh.user and ssh.key)';
  if (/Timed out while waiting for handshake/i.test(m)) return 'timed out (nothing answered on the SSH port)';
  if (/ECONNREFUSED/.test(m)) return 'connection refused (no SSH server on that port)';
  if (/EHOSTUNREACH|ENETUNREACH/.test(m)) return 'no route to host';
  return m;
}
