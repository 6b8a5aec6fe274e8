import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Facts } from '../../../src/engine/task.js';
import { loadInventory } from '../../../src/inventory/load.js';
import { publishersOf } from '../../../src/roles/analytics-replication.js';
import { appPgTasks } from '../../../src/roles/app-pg.js';
import { analyticsSecretsTask } from '../../../src/tasks/analytics-secrets.js';
import { analyticsSourceTask } from '../../../src/tasks/analytics-source.js';
import { pitrSourcesTask } from '../../../src/tasks/pitr-source.js';

const REPO = path.resolve(import.meta.dirname, '../../..');
const V = 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';
const inventory = (mode: 'replication' | 'direct', learned: Record<string, Facts>) => {
  const inv = loadInventory(path.join(REPO, 'inventory.yaml'), { requireSecrets: false, env: {} });
  inv.stateDir = mkdtempSync(path.join(tmpdir(), 'infra-analytics-'));
  mkdirSync(inv.stateDir, { recursive: true });
  writeFileSync(path.join(inv.stateDir, 'hosts.json'), JSON.stringify(learned));
  inv.analytics = {
    mode,
    host: 'toucan',
    apps: ['xhosa'],
    postgres: 18,
    syncTime: '05:30',
    lagThresholdSec: 60,
    metabase: {},
  };
  return inv;
};
const hornbill = (inv: ReturnType<typeof inventory>) =>
  appPgTasks(inv, inv.hosts.find((h) => h.name === 'hornbill')!, []).tasks;

describe('the analytics layer in the two hosts plans', () => {
  it('a task over no app still probes something (an empty probe breaks the batch shell)', () => {
    expect(pitrSourcesTask({ apps: [], controlHost: 'toucan', control: '100.64.0.1' }).probe).toBe('true');
    expect(analyticsSourceTask({ apps: [], analyticsHost: 'toucan' }).probe).toBe('true');
    expect(analyticsSecretsTask({ mode: 'replication', apps: [] }).probe).toBe('true');
  });
  it('nothing for the analytics layer on the apps until the analytics host made its secret', () => {
    const tasks = hornbill(inventory('replication', { toucan: { tailnetAddress: '100.64.0.1' } }));
    expect(tasks.map((t) => t.id)).toEqual(['pg-hba', 'pg-settings', 'analytics-source']);
    const source = tasks.find((t) => t.id === 'analytics-source')!;
    // xhosa waits (left out of the task), the others are there to be cleaned up
    expect(source.probe).not.toContain('@@xhosa');
    expect(source.probe).toContain('@@beanstock');
  });
  it('replication: a restart task per included app, after the settings; the source after the restarts', () => {
    const inv = inventory('replication', {
      toucan: { tailnetAddress: '100.64.0.1', analyticsVerifiers: { repl: { xhosa: V } } },
    });
    const tasks = hornbill(inv);
    expect(tasks.map((t) => t.id)).toEqual(['pg-hba', 'pg-settings', 'pg-restart:xhosa', 'analytics-source']);
    expect(tasks.find((t) => t.id === 'pg-restart:xhosa')!.after).toEqual(['pg-settings']);
    expect(tasks.find((t) => t.id === 'analytics-source')!.after).toContain('pg-restart:xhosa');
    // the analytics host subscribes once hornbill said xhosa is ready with this verifier
    expect(publishersOf(inv, inv.analytics!)).toEqual([]);
    const ready = inventory('replication', {
      toucan: { tailnetAddress: '100.64.0.1', analyticsVerifiers: { repl: { xhosa: V } } },
      hornbill: { tailnetAddress: '100.64.0.2', analyticsSources: { xhosa: V } },
    });
    expect(publishersOf(ready, ready.analytics!)).toMatchObject([
      { app: 'xhosa', host: 'hornbill', address: '100.64.0.2' },
    ]);
  });
  it('direct: no restart; the read-only role with the verifier of analytics_ro', () => {
    const tasks = hornbill(
      inventory('direct', { toucan: { tailnetAddress: '100.64.0.1', analyticsVerifiers: { ro: V } } }),
    );
    expect(tasks.map((t) => t.id)).toEqual(['pg-hba', 'pg-settings', 'analytics-source']);
    expect(tasks.find((t) => t.id === 'analytics-source')!.probe).toContain('@@xhosa');
  });
});
