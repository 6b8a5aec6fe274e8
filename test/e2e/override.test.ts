import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_DIR } from './bootstrap-helpers.js';
import { changedCount, ensureLab, infra, onHost, resetInventory } from './harness.js';

/**
 * One refused change skips only what depends on it (issue 21), and an ordering wait is not a
 * failure (issue 14, item 9), on the bootstrapped lab: real Debian, sshd, systemd, UFW, Docker.
 * Every scenario runs apply twice (the second changes nothing) and leaves the hosts converged
 * for the files after this one.
 */
const H = 'hornbill';
const FOREIGN = '/etc/ssh/sshd_config.d/00-aaa.conf';
const TIMER = 'infra-pg-backup-xhosa.timer';
/** What infra learned about the lab's hosts (their tailnet addresses): the lab's state dir. */
const LEARNED = path.join(LAB_DIR, 'hosts.json');

interface Doc {
  hosts: {
    name: string;
    status: string;
    counts: Record<string, number>;
    findings: {
      task: string;
      kind: string;
      message: string;
      actual: unknown;
      cause?: string;
      waitingFor?: string;
    }[];
    changes: { task: string }[];
  }[];
}
const json = (stdout: string) => JSON.parse(stdout) as Doc;

async function converged(host: string) {
  const r = await infra(['--lab', 'apply', host, '--json']);
  expect(r.code, r.all).toBe(0);
  expect(changedCount(r.stdout), r.stdout).toBe(0);
}

describe('a refusal skips only what depends on it; a wait is not a failure', () => {
  beforeAll(async () => {
    resetInventory();
    await ensureLab();
    for (const h of ['toucan', H]) {
      const r = await infra(['--lab', 'bootstrap', h]);
      expect(r.code, r.all).toBe(0);
    }
  });

  afterAll(async () => {
    await onHost(H, `rm -f ${FOREIGN}; systemctl start ${TIMER}`);
  });

  it('a foreign sshd drop-in: check names it overridden-by, apply refuses it and still converges a stopped timer', async () => {
    const injected = await onHost(
      H,
      `printf 'PasswordAuthentication yes\\n' > ${FOREIGN} && systemctl reload ssh && systemctl stop ${TIMER}`,
    );
    expect(injected.code, injected.all).toBe(0);
    try {
      const check = await infra(['--lab', 'check', H, '--json']);
      expect(check.code, check.all).toBe(2);
      const findings = json(check.stdout).hosts[0]!.findings;
      expect(findings).toContainEqual(
        expect.objectContaining({
          task: 'sshd',
          kind: 'overridden-by',
          actual: { value: 'yes', file: FOREIGN },
        }),
      );
      expect(findings).toContainEqual(
        expect.objectContaining({ task: `service:${TIMER}`, kind: 'service-stopped' }),
      );

      const apply = await infra(['--lab', 'apply', H]);
      expect(apply.code, apply.all).toBe(1);
      expect(apply.all).toMatch(/failed\s+sshd/);
      expect(apply.all).toContain(`set earlier by ${FOREIGN}`);
      expect(apply.all).toMatch(new RegExp(`changed\\s+service:${TIMER.replaceAll('.', '\\.')}`));
      expect(apply.stdout).toMatch(new RegExp(`^${H} +ok \\d+  changed 1  failed 1  skipped 0 `, 'm'));
      expect(apply.stdout).not.toMatch(new RegExp(`^${H} +skipped `, 'm'));
      expect((await onHost(H, `systemctl is-active ${TIMER}`)).stdout.trim()).toBe('active');
      // Not infra's file: left in place, and infra's own drop-in is as it was.
      expect((await onHost(H, `test -f ${FOREIGN}`)).code).toBe(0);
      expect(
        (
          await onHost(H, 'grep -c "^PasswordAuthentication no" /etc/ssh/sshd_config.d/00-infra.conf')
        ).stdout.trim(),
      ).toBe('1');

      // Twice: the second run changes nothing and fails the same one way.
      const again = await infra(['--lab', 'apply', H, '--json']);
      expect(again.code, again.all).toBe(1);
      const h = json(again.stdout).hosts[0]!;
      expect(h.changes).toEqual([]);
      expect(h.counts).toMatchObject({ failed: 1, skipped: 0, changed: 0, waiting: 0 });
      expect(h.findings.map((f) => [f.task, f.kind])).toEqual([['sshd', 'error']]);
    } finally {
      await onHost(H, `rm -f ${FOREIGN}; systemctl reload ssh; systemctl start ${TIMER}`);
    }
    await converged(H);
  });

  const WAITS = ['stack:alloy', 'user:dokploy', 'backup-serve'];
  it("bootstrap hornbill before toucan's address is known: Alloy waits (exit 2), everything else converged", async () => {
    // What `infra bootstrap toucan` learns: without it, hornbill's plan cannot point Alloy at Loki.
    // A fresh toucan would cost a cold bootstrap; forgetting what infra learned is the same plan.
    const learned = readFileSync(LEARNED, 'utf8');
    const { toucan: _forgotten, ...rest } = JSON.parse(learned) as Record<string, unknown>;
    writeFileSync(LEARNED, JSON.stringify(rest));
    try {
      for (let run = 1; run <= 2; run++) {
        const r = await infra(['--lab', 'bootstrap', H]);
        expect(r.code, r.all).toBe(2);
        expect(r.all).toContain('waiting stack:alloy: waiting for toucan: run infra bootstrap toucan');
        // Three tasks wait on what toucan's run learns: Alloy (its address), the deploy user
        // (Dokploy's key) and the backup pull user (toucan's pull key). Nothing else is left.
        expect(r.stdout).toMatch(
          new RegExp(`^${H} +ok \\d+  changed 0  failed 0  skipped 0  waiting ${WAITS.length} `, 'm'),
        );
        expect(r.stdout).toContain('left: stack:alloy is waiting for toucan: run infra bootstrap toucan');
        expect(r.stdout).not.toMatch(new RegExp(`^${H} +(failed|skipped) `, 'm'));
      }
      const doc = json((await infra(['--lab', 'apply', H, '--json'])).stdout).hosts[0]!;
      expect(doc.status).toBe('pending');
      expect(doc.counts).toMatchObject({ failed: 0, skipped: 0, changed: 0, waiting: WAITS.length });
      expect(doc.findings).toEqual(
        expect.arrayContaining(
          WAITS.map((task) => expect.objectContaining({ task, kind: 'waiting', waitingFor: 'toucan' })),
        ),
      );
      expect(doc.findings).toHaveLength(WAITS.length);
    } finally {
      writeFileSync(LEARNED, learned);
    }
    await converged(H);
  });
});
