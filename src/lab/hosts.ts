import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOST_IMAGE, LABEL, PARKED_IF, PUBLIC_NET, STATE_LABEL_KEY, type TailnetNet } from './constants.js';
import { dexec, docker, dockerTry, must, sleep } from './exec.js';
import { setKnownHosts } from './state.js';
import type { LabHost, LabProgress } from './types.js';

/** Docker state, or systemd's overall state when the container runs. */
export async function hostState(container: string): Promise<string> {
  const r = await dockerTry(['inspect', '-f', '{{.State.Status}}', container]);
  if (r.code !== 0) return 'missing';
  if (r.stdout.trim() !== 'running') return r.stdout.trim() === 'exited' ? 'stopped' : r.stdout.trim();
  const s = await dexec(container, 'systemctl is-system-running 2>/dev/null || true');
  return s.stdout.trim() || 'unknown';
}

/**
 * Host keys made on this machine and copied in before first boot: each host gets its own
 * keys (like a real VPS) and the lab knows them without trusting the network.
 */
async function seedKeys(host: LabHost, pubKey: string): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'infra-lab-seed-'));
  try {
    mkdirSync(join(dir, 'etc', 'ssh'), { recursive: true, mode: 0o755 });
    mkdirSync(join(dir, 'root', '.ssh'), { recursive: true, mode: 0o700 });
    chmodSync(join(dir, 'root'), 0o700);
    writeFileSync(join(dir, 'root', '.ssh', 'authorized_keys'), `${pubKey}\n`, { mode: 0o600 });
    const lines: string[] = [];
    for (const [type, bits] of [
      ['ed25519', []],
      ['ecdsa', ['-b', '256']],
      ['rsa', ['-b', '3072']],
    ] as const) {
      const f = join(dir, 'etc', 'ssh', `ssh_host_${type}_key`);
      await must('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', `root@${host.name}`, '-f', f]);
      const [alg, key] = readFileSync(`${f}.pub`, 'utf8').trim().split(' ');
      lines.push(`${host.publicAddress},${host.tailnetAddress} ${alg} ${key}`);
    }
    await must('sh', [
      '-c',
      'tar -C "$1" --numeric-owner --owner=0 --group=0 -c etc root | docker cp - "$2:/"',
      'sh',
      dir,
      host.container,
    ]);
    return lines;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits for systemd to settle; returns the state and, when degraded, the failed units. */
async function waitBooted(
  container: string,
  timeoutMs = 120_000,
): Promise<{ state: string; failed: string[] }> {
  const t0 = Date.now();
  let state = 'unknown';
  while (Date.now() - t0 < timeoutMs) {
    state = await hostState(container);
    if (state === 'running' || state === 'degraded') break;
    if (state === 'stopped' || state === 'missing') throw new Error(`${container} exited while booting`);
    await sleep(300);
  }
  if (state !== 'running' && state !== 'degraded') {
    throw new Error(
      `${container}: systemd did not finish booting in ${timeoutMs / 1000} s (state: ${state})`,
    );
  }
  const failed =
    state === 'degraded'
      ? (await dexec(container, 'systemctl --failed --plain --no-legend | cut -d" " -f1')).stdout
          .split('\n')
          .filter(Boolean)
      : [];
  return { state, failed };
}

/** Where the lab (the stand-in's coordination server) records the node's tailnet address. */
export const ASSIGNED_FILE = '/var/lib/infra-lab/tailnet-address';

/**
 * Parks the tailnet interface (down, renamed tsparked0, address taken off and recorded in
 * ASSIGNED_FILE) so nothing can use the address before the stand-in `tailscale up` or
 * tailscaled gives it back. A host whose tailscale stand-in has its boot unit parks itself
 * first thing at boot and tailscaled restores the tailnet (as a real server boots): the lab
 * then leaves the boot alone. Otherwise it parks the fresh ethN Docker made and, for an older
 * stand-in, restarts tailscaled so it restores its own interface.
 */
async function parkTailnet(host: LabHost): Promise<void> {
  const addr = host.tailnetAddress.replaceAll('.', '\\.');
  const script = `[ -e /etc/systemd/system/sysinit.target.wants/tailscale-lab-park.service ] && exit 0
set -- $(ip -o -4 addr show | awk '$4 ~ /^${addr}\\// {print $2, $4}')
case "\${1:-}" in ''|tailscale0) ;; *)
  mkdir -p /var/lib/infra-lab && echo "$2" > ${ASSIGNED_FILE}
  ip addr flush dev "$1" && ip link set dev "$1" down
  [ "$1" = ${PARKED_IF} ] || ip link set dev "$1" name ${PARKED_IF} ;;
esac
if systemctl is-enabled -q tailscaled 2>/dev/null; then systemctl restart tailscaled; fi`;
  const r = await dexec(host.container, script);
  if (r.code !== 0)
    throw new Error(`${host.container}: could not park the tailnet interface: ${r.stderr.trim()}`);
}

/** Creates and boots one host; records its host keys in the lab known_hosts. */
export async function createHost(
  host: LabHost,
  pubKey: string,
  knownHosts: string,
  stateDir: string,
  tailnet: TailnetNet,
  progress: LabProgress,
): Promise<void> {
  const t0 = Date.now();
  host.createdAt = new Date(t0).toISOString();
  await dockerTry(['rm', '-f', '-v', host.container]);
  await dockerTry(['volume', 'rm', '-f', `${host.container}-docker`]);
  const stateLabel = `${STATE_LABEL_KEY}=${stateDir}`;
  await docker(['volume', 'create', '--label', LABEL, '--label', stateLabel, `${host.container}-docker`]);
  await docker([
    'create',
    ...[
      '--name',
      host.container,
      '--hostname',
      host.name,
      '--label',
      LABEL,
      '--label',
      `infra.lab.role=${host.role}`,
      '--label',
      stateLabel,
    ],
    ...['--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE'],
    ...['--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined'],
    ...[
      '--cgroupns=host',
      '-v',
      '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      '--tmpfs',
      '/run',
      '--tmpfs',
      '/run/lock',
    ],
    // A named volume, not the container's overlay, so the inner engine can use overlay2.
    ...['-v', `${host.container}-docker:/var/lib/docker`],
    ...['--stop-signal', 'SIGRTMIN+3', '--stop-timeout', '20'],
    ...['--network', PUBLIC_NET.name, '--ip', host.publicAddress],
    HOST_IMAGE,
    '/sbin/init',
  ]);
  await docker(['network', 'connect', '--ip', host.tailnetAddress, tailnet.name, host.container]);
  const lines = await seedKeys(host, pubKey);
  setKnownHosts(knownHosts, host, lines);
  await docker(['start', host.container]);
  await parkTailnet(host);
  const { state, failed } = await waitBooted(host.container);
  host.state = state;
  const why = failed.length ? ` (failed units: ${failed.join(', ')})` : '';
  progress(
    `${host.name}: ${state}${why} at ${host.publicAddress} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/** Starts a stopped host again and waits for it; the tailnet is parked or restored as before the stop. */
export async function startHost(host: LabHost): Promise<string> {
  await docker(['start', host.container]);
  await parkTailnet(host);
  const { state } = await waitBooted(host.container);
  return state;
}

/**
 * A real reboot: `docker restart` sends the container's stop signal (SIGRTMIN+3, systemd's
 * "halt"), so every unit stops in order, then systemd boots again from the same disk. Nothing
 * of infra runs after it; the lab only parks the tailnet of a host that cannot park it itself.
 */
export async function rebootHost(host: LabHost): Promise<{ state: string; failed: string[] }> {
  const r = await dockerTry(['restart', '-t', '20', host.container]);
  if (r.code !== 0) throw new Error(`could not restart ${host.container}: ${r.stderr.trim()}`);
  await parkTailnet(host);
  return waitBooted(host.container);
}

export async function removeHost(container: string): Promise<void> {
  await dockerTry(['rm', '-f', '-v', container]);
  await dockerTry(['volume', 'rm', '-f', `${container}-docker`]);
}
