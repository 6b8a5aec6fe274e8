/**
 * `infra lab up|down|status|reset|reboot`: the CLI edge of the lab. The only place the lab prints;
 * each verb returns an exit code (0 ok, 1 failed).
 */
import { isInfraError } from '../errors.js';
import type { LabHost, LabHostSpec, LabProgress, LabState } from '../lab/index.js';

const out = (s: string) => process.stdout.write(s);
const progress: LabProgress = (m) => out(`lab: ${m}\n`);
/** With --json, stdout holds exactly one document; progress goes to stderr. */
const progressErr: LabProgress = (m) => process.stderr.write(`lab: ${m}\n`);

/** One line: what failed and, for a known error (a missing host tool…), the command that fixes it. */
function fail(e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  const hint = isInfraError(e) && e.hint ? `; fix: ${e.hint}` : '';
  process.stderr.write(`lab: error: ${msg}${hint}\n`);
  return 1;
}

/** Loaded lazily so `infra --help` never pulls in the lab (and execa). */
const lab = () => import('../lab/index.js');

function table(hosts: LabHost[]): string {
  const rows = [
    ['NAME', 'ROLE', 'PUBLIC', 'TAILNET', 'STATE'],
    ...hosts.map((h) => [h.name, h.role, h.publicAddress, h.tailnetAddress, h.state]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map(
      (r) =>
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
    )
    .join('');
}

/** The --json document: everything an SSH client (OpenSSH, Ansible) needs to reach each host. */
function jsonDoc(state: LabState): string {
  const hosts = state.hosts.map((h) => ({
    name: h.name,
    role: h.role,
    state: h.state,
    address: h.publicAddress,
    tailnetAddress: h.tailnetAddress,
    port: h.port,
    user: h.user,
    keyFile: h.keyFile,
    container: h.container,
  }));
  return `${JSON.stringify({ lab: true, stateDir: state.stateDir, knownHostsFile: state.knownHostsFile, upstream: state.upstream, hosts }, null, 2)}\n`;
}

export async function up(invHosts: LabHostSpec[], stateDir: string, json: boolean): Promise<number> {
  try {
    const t0 = Date.now();
    const state = await (await lab()).labUp(invHosts, stateDir, json ? progressErr : progress);
    if (json) out(jsonDoc(state));
    else
      out(
        `${table(state.hosts)}lab up in ${((Date.now() - t0) / 1000).toFixed(1)} s; ssh -i ${state.keyFile} -o UserKnownHostsFile=${state.knownHostsFile} root@ADDRESS\n`,
      );
    return state.hosts.every((h) => h.state === 'running' || h.state === 'degraded') ? 0 : 1;
  } catch (e) {
    return fail(e);
  }
}

export async function down(stateDir: string, images: boolean): Promise<number> {
  try {
    await (await lab()).labDown(stateDir, { images }, progress);
    out(`lab removed${images ? ' (images too)' : '; cached images kept (--images removes them)'}\n`);
    return 0;
  } catch (e) {
    return fail(e);
  }
}

export async function status(stateDir: string, json: boolean): Promise<number> {
  try {
    const state = await (await lab()).labStatus(stateDir);
    if (!state) {
      if (json) out(`${JSON.stringify({ lab: false, hosts: [] })}\n`);
      else out('no lab here (infra lab up creates one)\n');
      return 0;
    }
    out(json ? jsonDoc(state) : table(state.hosts));
    return 0;
  } catch (e) {
    return fail(e);
  }
}

export async function reset(stateDir: string, name: string): Promise<number> {
  try {
    const host = await (await lab()).labReset(stateDir, name, progress);
    out(table([host]));
    return host.state === 'running' || host.state === 'degraded' ? 0 : 1;
  } catch (e) {
    return fail(e);
  }
}

export async function reboot(stateDir: string, name: string): Promise<number> {
  try {
    const host = await (await lab()).labReboot(stateDir, name, progress);
    out(table([host]));
    return host.state === 'running' ? 0 : 1;
  } catch (e) {
    return fail(e);
  }
}
