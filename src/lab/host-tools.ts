import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { HostToolError } from '../errors.js';
import { run, sleep } from './exec.js';
import type { LabProgress } from './types.js';

/**
 * The tools the lab runs on this machine (not on the lab hosts), and the Debian package of each.
 * `dockerd` is checked apart from `docker`: a machine can have a client binary and no engine (a
 * static `docker` in /usr/local/bin), and only the engine needs `docker.io`.
 */
const TOOLS: Record<string, string> = {
  docker: 'docker.io',
  debootstrap: 'debootstrap',
  'apt-ftparchive': 'apt-utils', // lab/apt/build-repo.sh
  'dpkg-deb': 'dpkg',
  gpg: 'gnupg',
  'gpg-agent': 'gpg-agent', // gpg --quick-gen-key needs it; a lone gpg package lacks it
  gzip: 'gzip',
  'ssh-keygen': 'openssh-client',
  tar: 'tar',
  python3: 'python3', // lab/images/postgres/build-16-server.sh
  dockerd: 'docker.io', // required only when no engine answers
};

/** What the lab assumes about this machine; tests pass a PATH of fakes and a short wait. */
export interface HostSystem {
  /** Added to every command's environment (PATH is also where commands are looked up). */
  env: Record<string, string>;
  isRoot: boolean;
  /** systemd is PID 1: the engine is started as docker.service, not by hand. */
  systemd: boolean;
  dockerdLog: string;
  engineWaitMs: number;
}

export function thisMachine(): HostSystem {
  return {
    env: {},
    isRoot: process.getuid?.() === 0,
    systemd: existsSync('/run/systemd/system'),
    dockerdLog: '/var/log/infra-lab-dockerd.log',
    engineWaitMs: 60_000,
  };
}

/** The executable `cmd` on the machine's PATH, like `command -v`, without starting a shell. */
function which(cmd: string, sys: HostSystem): string | undefined {
  for (const dir of (sys.env.PATH ?? process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {}
  }
  return undefined;
}

/** The line of a tool's output that says why it failed: apt's last `E:` line, else the last line. */
function why(output: string): string {
  const lines = output
    .trim()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const line = lines.filter((l) => l.startsWith('E:')).pop() ?? lines.pop() ?? 'no output';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

type Engine = 'up' | 'down' | 'denied';

async function engine(sys: HostSystem): Promise<{ state: Engine; why: string }> {
  if (!which('docker', sys)) return { state: 'down', why: 'no docker client' };
  const r = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { env: sys.env });
  if (r.code === 0) return { state: 'up', why: '' };
  return { state: /permission denied/i.test(r.stderr) ? 'denied' : 'down', why: why(r.stderr || r.stdout) };
}

/**
 * Makes this machine able to run the lab: installs every missing tool with apt (docker.io also
 * when only the engine is missing) and starts the Docker engine when none answers. Every failure
 * is a HostToolError: one line saying what is wrong and the command that fixes it.
 */
export async function ensureHostTools(progress: LabProgress, sys: HostSystem = thisMachine()): Promise<void> {
  const missing = Object.keys(TOOLS).filter((cmd) => cmd !== 'dockerd' && !which(cmd, sys));
  let eng = await engine(sys);
  if (eng.state === 'denied')
    throw new HostToolError(
      `the Docker engine runs but this user may not use it (${eng.why})`,
      'run infra lab up as root, or join the docker group: sudo usermod -aG docker "$USER", then log in again',
    );
  // An engine that answers (here, remote or rootless) needs no dockerd on this machine.
  if (eng.state === 'down' && !which('dockerd', sys)) missing.push('dockerd');
  const pkgs = [...new Set(missing.map((cmd) => TOOLS[cmd]!))];
  if (pkgs.length) await aptInstall(pkgs, missing, progress, sys);
  if (eng.state === 'up') return;
  eng = await engine(sys); // installing docker.io under systemd starts docker.service
  if (eng.state !== 'up') await startEngine(eng.why, progress, sys);
}

async function aptInstall(pkgs: string[], cmds: string[], progress: LabProgress, sys: HostSystem) {
  const needs = `the lab needs ${pkgs.join(', ')} on this machine (missing: ${cmds.join(', ')})`;
  const install = `apt-get install -y ${pkgs.join(' ')}`;
  if (!sys.isRoot)
    throw new HostToolError(needs, `sudo ${install}, then infra lab up again (or run infra lab up as root)`);
  if (!which('apt-get', sys))
    throw new HostToolError(
      `${needs}, and there is no apt-get here`,
      'install them with your package manager (the lab is made for Debian and Ubuntu)',
    );
  progress(`installing host tools with apt: ${pkgs.join(' ')}`);
  const env = { ...sys.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = await run('apt-get', ['update'], { env });
  if (upd.code !== 0)
    throw new HostToolError(
      `apt-get update failed (exit ${upd.code}): ${why(upd.stderr || upd.stdout)}`,
      `repair this machine's apt sources or network, then infra lab up again (it runs ${install})`,
    );
  const inst = await run('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { env });
  if (inst.code !== 0)
    throw new HostToolError(
      `apt-get install ${pkgs.join(' ')} failed (exit ${inst.code}): ${why(inst.stderr || inst.stdout)}`,
      `run ${install} to see the whole error, repair it, then infra lab up again`,
    );
  const still = cmds.filter((cmd) => !which(cmd, sys));
  if (still.length)
    throw new HostToolError(
      `apt-get installed ${pkgs.join(' ')}, but ${still.join(', ')} is still not on PATH`,
      `add the directory that holds it to PATH (root's PATH has /usr/sbin), then infra lab up again`,
    );
}

async function startEngine(down: string, progress: LabProgress, sys: HostSystem): Promise<void> {
  if (!sys.isRoot)
    throw new HostToolError(
      `no Docker engine answers (${down}), and starting one needs root`,
      'sudo systemctl start docker (or sudo dockerd &), or run infra lab up as root',
    );
  if (sys.systemd && which('systemctl', sys)) {
    progress('no Docker engine answers; systemctl start docker');
    const r = await run('systemctl', ['start', 'docker'], { env: sys.env });
    if (r.code !== 0)
      throw new HostToolError(
        `systemctl start docker failed (exit ${r.code}): ${why(r.stderr || r.stdout)}`,
        'journalctl -u docker says why; repair it, then infra lab up again',
      );
    return waitForEngine(() => undefined, 'journalctl -u docker', sys);
  }
  const dockerd = which('dockerd', sys);
  if (!dockerd) throw new HostToolError('dockerd is not on PATH', 'apt-get install -y docker.io');
  progress(`no Docker engine answers; starting dockerd in the background (log: ${sys.dockerdLog})`);
  let log: number;
  try {
    log = openSync(sys.dockerdLog, 'a');
  } catch (e) {
    throw new HostToolError(`cannot write dockerd's log ${sys.dockerdLog}: ${(e as Error).message}`);
  }
  const from = statSync(sys.dockerdLog).size;
  const env = { ...process.env, ...sys.env };
  // No systemd here (CI, containers): started by hand, detached, so it outlives this run.
  const child = spawn(dockerd, [], { detached: true, stdio: ['ignore', log, log], env });
  closeSync(log);
  let gone: string | undefined;
  // An 'error' event without a listener is an uncaught exception: it must become a result.
  child.once('error', (e) => (gone = `dockerd could not start: ${e.message}`));
  child.once('exit', (code, signal) => {
    const tail = readFileSync(sys.dockerdLog, 'utf8').slice(from);
    gone = `dockerd exited at start (${signal ?? `exit ${code}`}): ${why(tail)}`;
  });
  child.unref();
  return waitForEngine(() => gone, sys.dockerdLog, sys);
}

async function waitForEngine(gone: () => string | undefined, logs: string, sys: HostSystem): Promise<void> {
  for (let waited = 0; waited < sys.engineWaitMs; waited += 250) {
    await sleep(250);
    const failed = gone();
    if (failed)
      throw new HostToolError(failed, `${logs} has the whole story; repair it, then infra lab up again`);
    if ((await engine(sys)).state === 'up') return;
  }
  throw new HostToolError(
    `the Docker engine did not answer within ${Math.round(sys.engineWaitMs / 1000)} s`,
    `${logs} says why`,
  );
}
