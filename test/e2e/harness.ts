import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/**
 * End-to-end tests drive the real CLI (`node bin/infra.js`, built from src) against the lab.
 * They work on a copy of the repository's inventory in .infra-e2e/, so commands that edit the
 * inventory (add-app) never touch the real file; the lab's state lives in .infra-e2e/.infra/lab.
 */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WORK = path.join(REPO, '.infra-e2e');
export const INVENTORY = path.join(WORK, 'inventory.yaml');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  all: string;
}

/** Resets the working inventory to the repository's (the lab and learned state are kept). */
export function resetInventory(text?: string): void {
  mkdirSync(WORK, { recursive: true });
  if (text !== undefined) writeFileSync(INVENTORY, text);
  else cpSync(path.join(REPO, 'inventory.yaml'), INVENTORY);
}

export function inventoryText(): string {
  return readFileSync(INVENTORY, 'utf8');
}

/** Runs `infra -i <work inventory> …args`; never throws on a non-zero exit. */
export async function infra(
  args: string[],
  opts: { env?: Record<string, string>; input?: string } = {},
): Promise<Run> {
  const r = await execa('node', [path.join(REPO, 'bin/infra.js'), '-i', INVENTORY, ...args], {
    reject: false,
    all: true,
    input: opts.input ?? '',
    env: { NO_COLOR: '1', ...opts.env },
  });
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, all: r.all ?? '' };
}

/** Brings the lab up for the work inventory (idempotent: running hosts are kept). */
export async function ensureLab(): Promise<void> {
  if (!existsSync(INVENTORY)) resetInventory();
  const r = await infra(['lab', 'up']);
  if (r.code !== 0) throw new Error(`lab up failed:\n${r.all}`);
}

/** The lab container of an inventory host (names are scoped to the lab's state dir). */
export function containerOf(host: string): string {
  const lab = JSON.parse(readFileSync(path.join(WORK, '.infra', 'lab', 'lab.json'), 'utf8')) as {
    hosts: { name: string; container: string }[];
  };
  const h = lab.hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no lab host ${host} in ${WORK}/.infra/lab/lab.json`);
  return h.container;
}

/**
 * The test's own eye on a host, beside infra: `docker exec` into the lab container. Used to
 * inspect results and to inject drift by hand, never to do infra's work for it.
 */
export async function onHost(host: string, script: string): Promise<Run> {
  const r = await execa('docker', ['exec', '-i', containerOf(host), 'sh', '-c', script], {
    reject: false,
    all: true,
  });
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, all: r.all ?? '' };
}

/** Count of changed tasks in a `--json` apply report. */
export function changedCount(stdout: string): number {
  const doc = JSON.parse(stdout) as { hosts: { changes: unknown[] }[] };
  return doc.hosts.reduce((n, h) => n + h.changes.length, 0);
}

/** A TCP connect from this machine: does anything answer? Only lab addresses are ever tried. */
export function answers(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const done = (open: boolean) => {
      s.destroy();
      resolve(open);
    };
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
    s.on('timeout', () => done(false));
  });
}

/** Durations of a file's named steps, in seconds to a tenth, for the log line each file prints. */
export function stepTimer(): {
  times: Record<string, number>;
  timed: <T>(name: string, f: () => Promise<T>) => Promise<T>;
} {
  const times: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>) => {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      times[name] = Math.round((Date.now() - t0) / 100) / 10;
    }
  };
  return { times, timed };
}

/** The analytics layer off toucan: stack, volume, script, timer, state (test setup, by hand). */
export const clearAnalytics = () =>
  onHost(
    'toucan',
    [
      'command -v docker >/dev/null || exit 0',
      'systemctl disable --now infra-analytics-sync.timer >/dev/null 2>&1',
      'docker ps -aq --filter label=com.docker.compose.project=analytics | xargs -r docker rm -f >/dev/null',
      'docker volume ls -q --filter label=io.infra.analytics=true | xargs -r docker volume rm >/dev/null',
      'rm -rf /srv/infra/stacks/analytics /etc/infra/analytics /var/lib/infra-analytics /run/infra-analytics /usr/local/sbin/infra-analytics-sync /etc/systemd/system/infra-analytics-sync.*',
      'systemctl daemon-reload; true',
    ].join('; '),
  );
