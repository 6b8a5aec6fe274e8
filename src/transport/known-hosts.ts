import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface KnownHost {
  patterns: string[];
  type: string;
  key: string; // base64 of the wire-format key
}

/** Pure: the plain (unhashed) lines of an OpenSSH known_hosts file. */
export function parseKnownHosts(text: string): KnownHost[] {
  const out: KnownHost[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#') || t.startsWith('|') || t.startsWith('@')) continue;
    const [hosts, type, key] = t.split(/\s+/);
    if (hosts && type && key) out.push({ patterns: hosts.split(','), type, key });
  }
  return out;
}

/** How OpenSSH names a host in known_hosts: bare for port 22, `[addr]:port` otherwise. */
export function hostPattern(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/** Key type from the SSH wire format: uint32 length, then the type string. */
export function keyType(key: Buffer): string {
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export type HostKeyVerdict =
  | { kind: 'match' }
  | { kind: 'unknown' }
  | { kind: 'changed'; expected: string[] };

/** Pure: is this key pinned for any of the names the host goes by (inventory name, addresses)? */
export function judgeHostKey(entries: readonly KnownHost[], names: string[], key: Buffer): HostKeyVerdict {
  const mine = entries.filter((e) => e.patterns.some((p) => names.includes(p)));
  if (mine.length === 0) return { kind: 'unknown' };
  const b64 = key.toString('base64');
  if (mine.some((e) => e.key === b64)) return { kind: 'match' };
  return { kind: 'changed', expected: mine.map((e) => fingerprint(Buffer.from(e.key, 'base64'))) };
}

/**
 * Parsed files by path, with the size and mtime they were parsed at. Every handshake verifies
 * its host key against the file: at 200 hosts, reading and parsing it on each one is O(N²)
 * work on the operator's machine. A stat per handshake tells whether it changed since (someone
 * ran `ssh-keygen -R`, or another infra recorded a key), so the pin is never judged on stale lines.
 */
const parsed = new Map<string, { size: number; mtimeMs: number; entries: readonly KnownHost[] }>();

export function readKnownHosts(file: string): readonly KnownHost[] {
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st) return [];
  const hit = parsed.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.entries;
  // Frozen: every caller shares this one array.
  const entries = Object.freeze(parseKnownHosts(readFileSync(file, 'utf8')));
  parsed.set(file, { size: st.size, mtimeMs: st.mtimeMs, entries });
  return entries;
}

export function recordKnownHost(file: string, names: string[], key: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, `${names.join(',')} ${keyType(key)} ${key.toString('base64')}\n`, { mode: 0o644 });
}
