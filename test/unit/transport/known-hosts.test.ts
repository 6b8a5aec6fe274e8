import { describe, expect, it } from 'vitest';
import {
  fingerprint,
  hostPattern,
  judgeHostKey,
  keyType,
  parseKnownHosts,
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
