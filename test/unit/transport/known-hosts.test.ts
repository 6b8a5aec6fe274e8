import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fingerprint,
  hostPattern,
  judgeHostKey,
  keyType,
  parseKnownHosts,
  readKnownHosts,
  recordKnownHost,
} from '../../../src/transport/known-hosts.js';

// An ssh-ed25519 public key in wire format: string "ssh-ed25519", string <32 bytes>.
function wireKey(fill: number): Buffer {
  const type = Buffer.from('ssh-ed25519');
  const body = Buffer.alloc(32, fill);
  const len = (n: number) => Buffer.from([0, 0, 0, n]);
  return Buffer.concat([len(type.length), type, len(body.length), body]);
}

describe('known_hosts', () => {
  const key = wireKey(1);
  const file = `# pinned by infra\nhornbill,10.77.0.11 ssh-ed25519 ${key.toString('base64')}\n[10.0.0.5]:2222 ssh-rsa AAAA\n`;
  const entries = parseKnownHosts(file);

  it('parses plain lines and skips comments', () => {
    expect(entries).toHaveLength(2);
    expect(entries[0]!.patterns).toEqual(['hornbill', '10.77.0.11']);
  });
  it('names non-22 ports the OpenSSH way', () => {
    expect(hostPattern('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
    expect(hostPattern('10.0.0.5', 22)).toBe('10.0.0.5');
  });
  it('reads the key type from the wire format', () => {
    expect(keyType(key)).toBe('ssh-ed25519');
  });
  it('matches by inventory name even when the address is new (tailnet after bootstrap)', () => {
    expect(judgeHostKey(entries, ['hornbill', '100.77.0.11'], key)).toEqual({ kind: 'match' });
  });
  it('knows nothing of a new host', () => {
    expect(judgeHostKey(entries, ['toucan', '10.77.0.10'], key)).toEqual({ kind: 'unknown' });
  });
  it('calls a different key for a pinned host a change, naming the pinned fingerprint', () => {
    const verdict = judgeHostKey(entries, ['hornbill', '10.77.0.11'], wireKey(2));
    expect(verdict).toEqual({ kind: 'changed', expected: [fingerprint(key)] });
  });
});

describe('readKnownHosts: parsed once, read again when the file changes', () => {
  const key = wireKey;
  it('sees a key infra records and a file rewritten behind its back (ssh-keygen -R)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'infra-kh-'));
    const file = path.join(dir, 'known_hosts');
    expect(readKnownHosts(file)).toEqual([]);
    recordKnownHost(file, ['h001', '[127.0.0.1]:2201'], key(1));
    const first = readKnownHosts(file);
    expect(first.map((e) => e.patterns[0])).toEqual(['h001']);
    expect(readKnownHosts(file)).toBe(first); // unchanged file: the same parse
    recordKnownHost(file, ['h002'], key(2));
    expect(readKnownHosts(file).map((e) => e.patterns[0])).toEqual(['h001', 'h002']);
    writeFileSync(file, `h003 ssh-ed25519 ${key(3).toString('base64')}\n`);
    expect(readKnownHosts(file).map((e) => e.patterns[0])).toEqual(['h003']);
  });
});
