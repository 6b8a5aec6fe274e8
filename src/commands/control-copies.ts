import { connectHost } from '../engine/connect.js';
import { HostFacts } from '../engine/facts.js';
import { InfraError } from '../errors.js';
import type { App, Host, Inventory } from '../inventory/types.js';
import { shCmd, shq } from '../quote.js';
import { OFFSITE_SCRIPT_PATH } from '../tasks/backup-offsite.js';
import {
  COPIES_DIR,
  copiesDir,
  PULL_SCRIPT_PATH,
  type PullTarget,
  runPullScript,
} from '../tasks/backup-pull.js';
import type { Transport } from '../transport/types.js';
import { lastLines } from './app-host.js';

/** The control host, if the inventory has one. */
export function controlHost(inv: Inventory): Host | undefined {
  return inv.hosts.find((h) => h.role === 'control');
}

/** Where the control host dials the app's host; an unknown tailnet address is a clear error. */
export function pullTarget(inv: Inventory, app: App): PullTarget {
  const host = inv.hosts.find((h) => h.name === app.host)!;
  const address = HostFacts.load(inv.stateDir).of(host.name)?.tailnetAddress;
  if (!address)
    throw new InfraError(
      `${host.name}'s tailnet address is not known, so the control host cannot copy ${app.name}'s backups`,
      `run: infra bootstrap ${host.name}`,
    );
  return {
    app: app.name,
    address,
    port: host.ssh.port,
    keepDays: app.controlRetentionDays,
    major: app.postgres,
  };
}

/** One connection to the control host for `body`; closed afterwards. */
export async function withControl<T>(
  inv: Inventory,
  body: (t: Transport, host: Host) => Promise<T>,
): Promise<T> {
  const host = controlHost(inv);
  if (!host) throw new InfraError(`${inv.file} has no host with role control to keep backup copies`);
  const { transport } = await connectHost(inv, host);
  try {
    return await body(transport, host);
  } finally {
    await transport.close();
  }
}

/**
 * Runs the control host's pull for one app now; returns its summary line. A control host that
 * is not set up for copies yet (never applied since) is a note, not a failure: the dump stands.
 */
export async function pullNow(t: Transport, control: Host, target: PullTarget): Promise<string> {
  const has = await t.exec(`[ -x ${shq(PULL_SCRIPT_PATH)} ]`);
  if (has.code !== 0)
    return `not copied: ${control.name} is not set up for backup copies yet (run: infra apply ${control.name}, then apply the apps host)`;
  const r = await t.exec(runPullScript(target), { timeoutMs: 3_600_000 });
  if (r.code !== 0)
    throw new InfraError(
      `copying ${target.app}'s backups to ${control.name} failed (exit ${r.code})${r.stderr.trim() ? `: ${lastLines(r.stderr)}` : ''}`,
    );
  return r.stdout.trim().split('\n').at(-1) ?? '';
}

export interface CopyEntry {
  name: string;
  size: number;
  sha256: string;
  hasManifest: boolean;
}

/** `name size sha256 manifest?` per copy with its checksum file (the only copies that count). */
export function listCopiesScript(app: string): string {
  const d = shq(copiesDir(app));
  return `[ -d ${d} ] || exit 0\ncd ${d} && for f in ${shq(app)}-*.dump; do [ -f "$f" ] && [ -f "$f.sha256" ] || continue; m=no; [ -f "$f.manifest" ] && m=yes; printf '%s %s %s %s\\n' "$f" "$(stat -c %s "$f")" "$(head -n 1 "$f.sha256" | cut -d ' ' -f 1)" "$m"; done`;
}

export function parseCopyList(app: string, stdout: string): CopyEntry[] {
  const out: CopyEntry[] = [];
  for (const line of stdout.split('\n')) {
    const [name = '', size = '', sha = '', m = ''] = line.trim().split(' ');
    if (!name.startsWith(`${app}-`) || !name.endsWith('.dump') || !/^[0-9a-f]{64}$/.test(sha)) continue;
    out.push({ name, size: Number(size), sha256: sha, hasManifest: m === 'yes' });
  }
  return out.sort((a, b) => b.name.localeCompare(a.name));
}

export { COPIES_DIR };

/**
 * Runs the control host's off-site copy now (`backups.offsite`), after a fresh pull; returns its
 * summary. Not set up yet (the control host not applied since) is a note, as for the pull.
 */
export async function offsiteNow(t: Transport, control: Host): Promise<string> {
  const has = await t.exec(`[ -x ${shq(OFFSITE_SCRIPT_PATH)} ]`);
  if (has.code !== 0)
    return `off-site: not copied: ${control.name} is not set up for it yet (run: infra apply ${control.name})`;
  const r = await t.exec(shCmd([OFFSITE_SCRIPT_PATH, 'backup']), { timeoutMs: 3 * 3_600_000 });
  if (r.code !== 0)
    throw new InfraError(
      `the off-site copy from ${control.name} failed: ${lastLines(r.stderr).replace(/^infra-backup-offsite: /, '')}`,
    );
  return `off-site: ${r.stdout.trim().split('\n').at(-1) ?? ''}`;
}
