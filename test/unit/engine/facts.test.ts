import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostFacts } from '../../../src/engine/facts.js';
import { reconnectGuard } from '../../../src/engine/guard.js';
import type { Host, Inventory } from '../../../src/inventory/types.js';

const dir = () => mkdtempSync(path.join(tmpdir(), 'infra-facts-'));
const file = (d: string) => JSON.parse(readFileSync(path.join(d, 'hosts.json'), 'utf8'));

describe('HostFacts', () => {
  it('loads once: what the run learns is seen at once, the file changes only when saved', () => {
    const d = dir();
    writeFileSync(path.join(d, 'hosts.json'), JSON.stringify({ toucan: { tailnetAddress: '100.77.0.10' } }));
    const facts = HostFacts.load(d);
    facts.learn('hornbill', { tailnetAddress: '100.77.0.11' });
    facts.learn('toucan', { dokployPublicKey: 'ssh-ed25519 K' });
    expect(facts.of('hornbill')).toEqual({ tailnetAddress: '100.77.0.11' });
    expect(facts.of('toucan')).toEqual({ tailnetAddress: '100.77.0.10', dokployPublicKey: 'ssh-ed25519 K' });
    expect(file(d)).toEqual({ toucan: { tailnetAddress: '100.77.0.10' } });
    facts.save('hornbill');
    expect(file(d)).toEqual({
      toucan: { tailnetAddress: '100.77.0.10' },
      hornbill: { tailnetAddress: '100.77.0.11' },
    });
  });

  it("saving one host merges into the file as it is now: another run's host stays", () => {
    const d = dir();
    const facts = HostFacts.load(d);
    expect(facts.of('toucan')).toBeUndefined();
    writeFileSync(path.join(d, 'hosts.json'), JSON.stringify({ kite: { tailnetAddress: '100.77.0.12' } }));
    facts.learn('toucan', { tailnetAddress: '100.77.0.10' });
    facts.save('toucan');
    facts.save('nobody');
    expect(file(d)).toEqual({
      kite: { tailnetAddress: '100.77.0.12' },
      toucan: { tailnetAddress: '100.77.0.10' },
    });
  });
});

describe('one HostFacts through a run', () => {
  it('the lockout guard proves the tailnet as soon as the run learned the address, file or not', () => {
    const d = dir();
    const host = { name: 'toucan', address: '10.77.0.10', ssh: { port: 22 } } as Host;
    const inv = { stateDir: d, hosts: [host] } as unknown as Inventory;
    const facts = HostFacts.load(d);
    const guard = reconnectGuard(inv, host, 60, facts);
    expect(guard.pathLabel).toBe('the public path');
    facts.learn('toucan', { tailnetAddress: '100.77.0.10' });
    expect(guard.pathLabel).toBe('the tailnet path');
  });
});
