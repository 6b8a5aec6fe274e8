import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { servedTask } from '../../../src/tasks/ufw-served.js';

// An `ss -Hlntup` line as Debian 13's iproute2 prints it on a lab host (ufw-served.test.ts has more).
const PUBLIC = 'tcp LISTEN 0 4096 10.77.0.14:443 0.0.0.0:* users:(("nginx",pid=9,fd=3))';
const RULES = [{ interface: 'tailscale0' }, { port: 443, proto: 'tcp' as const }];

describe('ufw:served: a port the firewall opens to everyone with nothing behind it', () => {
  it('the probe under dash: ss output passes through; an ss that fails says none (no warning)', () => {
    const t = servedTask('toucan', RULES);
    const run = (ss: string) => {
      const dir = mkdtempSync(path.join(tmpdir(), 'infra-ss-'));
      writeFileSync(path.join(dir, 'ss'), `#!/bin/sh\n${ss}\n`);
      chmodSync(path.join(dir, 'ss'), 0o755);
      const r = spawnSync('dash', ['-c', t.probe], {
        env: { PATH: `${dir}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
      expect(r.status, r.stderr).toBe(0);
      return t.parse(r.stdout);
    };
    expect(run(`echo '${PUBLIC}'`).listeners).toEqual([
      { proto: 'tcp', address: '10.77.0.14', port: 443, process: 'nginx' },
    ]);
    const failed = run('exit 1');
    expect(failed.listeners).toBeUndefined();
    expect(t.warnings?.(failed)).toEqual([]);
  });
});
