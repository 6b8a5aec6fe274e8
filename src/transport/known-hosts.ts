import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
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
export function judgeHostKey(entries: KnownHost[], names: string[], key: Buffer): HostKeyVerdict {
  const mine = entries.filter((e) => e.patterns.some((p) => names.includes(p)));
  if (mine.length === 0) return { kind: 'unknown' };
  const b64 = key.toString('base64');
  if (mine.some((e) => e.key === b64)) return { kind: 'match' };
  return { kind: 'changed', expected: mine.map((e) => fingerprint(Buffer.from(e.key, 'base64'))) };
}

export function readKnownHosts(file: string): KnownHost[] {
  return existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : [];
}

export function recordKnownHost(file: string, names: string[], key: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, `${names.join(',')} ${keyType(key)} ${key.toString('base64')}\n`, { mode: 0o644 });
}
