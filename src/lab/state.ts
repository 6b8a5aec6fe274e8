import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UPSTREAM } from './constants.js';
import { must } from './exec.js';
import type { LabHost, LabState } from './types.js';

export const stateFile = (stateDir: string) => join(stateDir, 'lab.json');

/**
 * Sync read of <stateDir>/lab.json; undefined when there is no lab. A version-1 file (a lab from
 * before labs were scoped) reads as `{ version: 1 }`: labUp replaces that lab's hosts.
 */
export function readLabState(stateDir: string): LabState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return undefined;
  const s = JSON.parse(readFileSync(file, 'utf8')) as { version: unknown };
  if (s.version !== 1 && s.version !== 2)
    throw new Error(`${file}: unknown lab state version ${String(s.version)}`);
  return s as LabState;
}

/** Atomic write: a reader (the core, another test file) never sees half a document. */
export function writeLabState(state: LabState): void {
  mkdirSync(state.stateDir, { recursive: true });
  const file = stateFile(state.stateDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function emptyState(stateDir: string, slot: number): LabState {
  return {
    version: 2,
    stateDir,
    slot,
    keyFile: join(stateDir, 'id_ed25519'),
    knownHostsFile: join(stateDir, 'known_hosts'),
    hosts: [],
    upstream: { ...UPSTREAM },
  };
}

/** The operator's lab key, made once per state dir and authorised for root on every host. */
export async function ensureLabKey(keyFile: string): Promise<string> {
  if (!existsSync(keyFile)) {
    mkdirSync(join(keyFile, '..'), { recursive: true, mode: 0o700 });
    await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'infra-lab', '-f', keyFile]);
  }
  return readFileSync(`${keyFile}.pub`, 'utf8').trim();
}

/** Replaces the known_hosts lines of one host (its addresses) with `lines`. */
export function setKnownHosts(file: string, host: LabHost, lines: string[]): void {
  const addrs = new Set([host.publicAddress, host.tailnetAddress, host.name]);
  const kept = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(
          (l) =>
            l.trim() &&
            !l
              .split(' ')[0]!
              .split(',')
              .some((a) => addrs.has(a)),
        )
    : [];
  writeFileSync(`${file}.tmp`, [...kept, ...lines].map((l) => `${l}\n`).join(''));
  renameSync(`${file}.tmp`, file);
}
