import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { changedCount, INVENTORY, infra, onHost, REPO, type Run, WORK } from './harness.js';

/** Where `infra lab up` keeps the lab for the work inventory (see src/inventory/lab-overlay.ts). */
export const LAB_DIR = path.join(WORK, '.infra', 'lab');

/**
 * What infra learned of PITR (toucan's verifiers, hornbill's ready apps) goes too: a later file's
 * first `apply toucan` would otherwise start a receiver for an apps host not set up again yet.
 */
export const forgetPitr = () => {
  const file = path.join(LAB_DIR, 'hosts.json');
  if (!existsSync(file)) return;
  const learned = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  for (const facts of Object.values(learned)) {
    delete facts.pitrVerifiers;
    delete facts.pitrSources;
  }
  writeFileSync(file, `${JSON.stringify(learned, null, 2)}\n`);
};

interface LabJson {
  keyFile: string;
  knownHostsFile: string;
  hosts: { name: string; publicAddress: string; tailnetAddress: string }[];
}

export function labHost(name: string) {
  const lab = JSON.parse(readFileSync(path.join(LAB_DIR, 'lab.json'), 'utf8')) as LabJson;
  const h = lab.hosts.find((x) => x.name === name)!;
  return { ...h, keyFile: lab.keyFile, knownHostsFile: lab.knownHostsFile };
}

/** The fake secrets `--lab` hands to infra (auth key, tunnel tokens): none may ever be printed. */
export function labSecrets(): string[] {
  return Object.values(
    JSON.parse(readFileSync(path.join(LAB_DIR, 'secrets.json'), 'utf8')) as Record<string, string>,
  );
}

/** Every output of every run, to be searched for secrets at the end. */
export const outputs: string[] = [];

export async function run(...args: string[]): Promise<Run> {
  const r = await infra(['--lab', ...args]);
  outputs.push(r.all);
  return r;
}

/** Runs `--json` and returns the number of changes (throws with the output if it is not JSON). */
export async function changesOf(
  ...args: string[]
): Promise<{ code: number; changes: number; stdout: string }> {
  const r = await run(...args, '--json');
  try {
    return { code: r.code, changes: changedCount(r.stdout), stdout: r.stdout };
  } catch {
    throw new Error(`not a JSON report (exit ${r.code}):\n${r.all}`);
  }
}

/** A NEW OpenSSH connection from this machine, as the operator would open one: exit code of `true`. */
export async function sshWorks(host: string, via: 'public' | 'tailnet'): Promise<boolean> {
  const h = labHost(host);
  const r = await execa(
    'ssh',
    [
      ...['-i', h.keyFile, '-o', `UserKnownHostsFile=${h.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes'],
      ...['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', '-o', 'LogLevel=ERROR'],
      `root@${via === 'public' ? h.publicAddress : h.tailnetAddress}`,
      'true',
    ],
    { reject: false, timeout: 20_000 },
  );
  return r.exitCode === 0;
}

/** `infra --lab bootstrap` as a child we can SIGKILL (the harness awaits its runs). */
export function spawnInfra(args: string[]) {
  return execa('node', [path.join(REPO, 'bin/infra.js'), '-i', INVENTORY, '--lab', ...args], {
    reject: false,
    all: true,
    env: { NO_COLOR: '1' },
  });
}

/** Polls a host-side condition (a shell test) until it holds or the time is up. */
export async function waitOnHost(host: string, test: string, timeoutMs: number): Promise<boolean> {
  const r = await onHost(
    host,
    `i=0; while [ $i -lt ${Math.ceil(timeoutMs / 50)} ]; do if ${test}; then echo HIT; exit 0; fi; sleep 0.05; i=$((i+1)); done; exit 1`,
  );
  return r.code === 0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
