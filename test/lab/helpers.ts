import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { LabState } from '../../src/lab/index.js';
import { labUp } from '../../src/lab/index.js';

/** One lab for the whole suite: every test file asks for the same hosts, labUp keeps them. */
/**
 * The same lab dir as the end-to-end harness (test/e2e/harness.ts): Docker names are global,
 * so there is one lab per machine and every suite shares it.
 */
export const LAB_DIR =
  process.env.INFRA_LAB_TEST_DIR ??
  join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.infra-e2e', '.infra', 'lab');
export const LAB_HOSTS = [
  { name: 'toucan', role: 'control' },
  { name: 'hornbill', role: 'apps' },
];
export const LAB_TIMEOUT = 15 * 60_000;

export function bringUpLab(): Promise<LabState> {
  return labUp(LAB_HOSTS, LAB_DIR, (m) => process.stderr.write(`[lab] ${m}\n`));
}

/** OpenSSH with the lab key and the lab's pinned known_hosts (no trust on first use). */
export function ssh(state: LabState, address: string, command: string, input?: string, connectTimeout = 10) {
  return execa(
    'ssh',
    [
      ...['-o', `UserKnownHostsFile=${state.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes'],
      ...['-o', 'BatchMode=yes', '-o', `ConnectTimeout=${connectTimeout}`, '-o', 'LogLevel=ERROR'],
      ...['-i', state.keyFile, `root@${address}`, command],
    ],
    { reject: false, input },
  );
}

/**
 * Tests that change a host use scratch hosts, so the files sharing the lab (toucan, hornbill)
 * never see their hosts altered or vanish: `kiwi` is stopped, reset and firewalled; `kaka`
 * keeps its inner Docker engine across runs, so a warm run does not reinstall it.
 */
export const SCRATCH = 'kiwi';
export const DOCKER_SCRATCH = 'kaka';
export function bringUpScratch(): Promise<LabState> {
  return labUp(
    [...LAB_HOSTS, { name: SCRATCH, role: 'scratch' }, { name: DOCKER_SCRATCH, role: 'scratch' }],
    LAB_DIR,
    (m) => process.stderr.write(`[lab] ${m}\n`),
  );
}
