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

/**
 * Parks the tailnet interface (down, renamed) so nothing can use it before the stand-in
 * `tailscale up`; then, if tailscaled is enabled, restarts it so it restores its own
 * interface (a restarted container gets a fresh ethN from Docker).
 */
async function parkTailnet(host: LabHost): Promise<void> {
  const script = `dev=$(ip -o -4 addr show | awk '$4 ~ /^${host.tailnetAddress.replaceAll('.', '\\.')}\\// {print $2}')
case "$dev" in ''|${PARKED_IF}|tailscale0) ;; *) ip link set dev "$dev" down && ip link set dev "$dev" name ${PARKED_IF} ;; esac
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

export async function removeHost(container: string): Promise<void> {
  await dockerTry(['rm', '-f', '-v', container]);
  await dockerTry(['volume', 'rm', '-f', `${container}-docker`]);
}
