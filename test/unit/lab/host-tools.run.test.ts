import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostToolError } from '../../../src/errors.js';
import { ensureHostTools, type HostSystem } from '../../../src/lab/host-tools.js';
import { fakeTools } from '../fake-tools.js';

/**
 * The fresh machine of issue 14, simulated: a PATH holding only fakes (every stand-in is a
 * `#!/bin/sh` using shell built-ins), with a `docker` client that finds no engine, no `dockerd`,
 * and an `apt-get` that logs its argv. Nothing real is installed or started.
 */
const PRESENT = [
  'debootstrap',
  'apt-ftparchive',
  'dpkg-deb',
  'gpg',
  'gpg-agent',
  'gzip',
  'ssh-keygen',
  'tar',
  'python3',
];
const started: string[] = [];

function freshMachine(opts: { root?: boolean; systemd?: boolean; waitMs?: number } = {}) {
  const t = fakeTools('infra-host-tools-');
  const up = path.join(t.dir, 'engine.up');
  for (const tool of PRESENT) t.fake(tool, '');
  // Like the real client without an engine: exit 1 and this line on stderr.
  t.fake(
    'docker',
    `[ -f ${up} ] && { echo 20.10.24; exit 0; }\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1`,
  );
  const pidFile = path.join(t.dir, 'dockerd.pid');
  started.push(pidFile);
  /** What `apt-get install docker.io` leaves behind: a dockerd (by default one that comes up). */
  const dockerdBody = (body = `echo $$ > ${pidFile}\n: > ${up}\nexec /bin/sleep 30`) =>
    `/bin/cat > ${t.bin}/dockerd <<'EOF'\n#!/bin/sh\necho "dockerd $*" >> ${t.dir}/calls.log\n${body}\nEOF\n` +
    `/bin/chmod 755 ${t.bin}/dockerd`;
  const sys: HostSystem = {
    env: { PATH: t.bin },
    isRoot: opts.root ?? true,
    systemd: opts.systemd ?? false,
    dockerdLog: path.join(t.dir, 'dockerd.log'),
    engineWaitMs: opts.waitMs ?? 10_000,
  };
  const progress: string[] = [];
  return { ...t, up, sys, progress, log: (m: string) => progress.push(m), dockerdBody };
}

/** The error ensureHostTools throws, as one printed line (what `infra lab up` prints). */
async function failure(p: Promise<void>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(HostToolError);
  const { message, hint } = e as HostToolError;
  const line = `${message}; fix: ${hint}`;
  expect(line).not.toContain('\n');
  return line;
}

afterEach(() => {
  for (const f of started.splice(0))
    if (existsSync(f)) {
      try {
        process.kill(Number(readFileSync(f, 'utf8').trim()));
      } catch {}
    }
});

describe('the lab on a fresh machine (docker client, no engine)', () => {
  it('installs docker.io because dockerd is missing, starts dockerd and waits for it', async () => {
    const m = freshMachine();
    m.fake('apt-get', `case "$1" in install) ${m.dockerdBody()} ;; esac`);
    await ensureHostTools(m.log, m.sys);
    expect(m.calls()).toEqual([
      'docker info --format {{.ServerVersion}}',
      'apt-get update',
      'apt-get install -y --no-install-recommends docker.io',
      'docker info --format {{.ServerVersion}}',
      'dockerd ',
      expect.stringMatching(/^docker info/),
    ]);
    expect(m.progress).toEqual([
      'installing host tools with apt: docker.io',
      `no Docker engine answers; starting dockerd in the background (log: ${m.sys.dockerdLog})`,
    ]);
  });

  it('installs every missing tool in one apt-get run', async () => {
    const m = freshMachine();
    rmSync(path.join(m.bin, 'apt-ftparchive'));
    rmSync(path.join(m.bin, 'ssh-keygen'));
    const provide = (tool: string) => `: > ${m.bin}/${tool}; /bin/chmod 755 ${m.bin}/${tool}`;
    m.fake(
      'apt-get',
      `case "$1" in install) ${provide('apt-ftparchive')}; ${provide('ssh-keygen')}; ${m.dockerdBody()} ;; esac`,
    );
    await ensureHostTools(m.log, m.sys);
    expect(m.calls()).toContain(
      'apt-get install -y --no-install-recommends apt-utils openssh-client docker.io',
    );
  });

  it('under systemd, starts docker.service instead of a dockerd of its own', async () => {
    const m = freshMachine({ systemd: true });
    m.fake('apt-get', `case "$1" in install) ${m.dockerdBody('exit 1')} ;; esac`);
    m.fake('systemctl', `: > ${m.up}`);
    await ensureHostTools(m.log, m.sys);
    expect(m.calls()).toContain('systemctl start docker');
    expect(m.calls()).not.toContain('dockerd ');
  });

  it('keeps an engine that already answers: no dockerd needed, nothing installed', async () => {
    const m = freshMachine();
    writeFileSync(m.up, '');
    m.fake('apt-get', 'exit 1');
    await ensureHostTools(m.log, m.sys);
    expect(m.calls()).toEqual(['docker info --format {{.ServerVersion}}']);
  });

  it.each([
    [
      'not root',
      { root: false },
      'exit 0',
      /^the lab needs docker\.io on this machine \(missing: dockerd\); fix: sudo apt-get install -y docker\.io, then infra lab up again/,
    ],
    [
      'apt-get update fails',
      {},
      'echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 77 (apt-get)" >&2; exit 100',
      /^apt-get update failed \(exit 100\): E: Could not get lock .*; fix: repair this machine's apt sources or network, then infra lab up again \(it runs apt-get install -y docker\.io\)$/,
    ],
    [
      'the package is unknown',
      {},
      'case "$1" in install) echo "Reading package lists..."; echo "E: Unable to locate package docker.io" >&2; exit 100;; esac',
      /^apt-get install docker\.io failed \(exit 100\): E: Unable to locate package docker\.io; fix: run apt-get install -y docker\.io to see the whole error/,
    ],
    [
      'the package brings no dockerd',
      {},
      'exit 0',
      /^apt-get installed docker\.io, but dockerd is still not on PATH; fix: /,
    ],
  ])('%s: one line with the fix', async (_, opts, aptBody, expected) => {
    const m = freshMachine(opts);
    m.fake('apt-get', aptBody);
    expect(await failure(ensureHostTools(m.log, m.sys))).toMatch(expected);
  });

  it('no apt-get on the machine: says to use its package manager', async () => {
    const m = freshMachine();
    expect(await failure(ensureHostTools(m.log, m.sys))).toMatch(
      /^the lab needs docker\.io on this machine \(missing: dockerd\), and there is no apt-get here; fix: install them with your package manager/,
    );
  });

  it('dockerd exits at start: its own reason, from its log', async () => {
    const m = freshMachine();
    const reason =
      'failed to start daemon: Error initializing network controller: error obtaining controller instance: failed to create NAT chain DOCKER: iptables not found';
    m.fake(
      'apt-get',
      `case "$1" in install) ${m.dockerdBody(`echo 'level=info msg="starting up"'; echo '${reason}' >&2; exit 1`)} ;; esac`,
    );
    expect(await failure(ensureHostTools(m.log, m.sys))).toBe(
      `dockerd exited at start (exit 1): ${reason}; fix: ${m.sys.dockerdLog} has the whole story; repair it, then infra lab up again`,
    );
  });

  it('dockerd never answers: gives up after the wait, naming its log', async () => {
    const m = freshMachine({ waitMs: 1000 });
    m.fake(
      'apt-get',
      `case "$1" in install) ${m.dockerdBody(`echo $$ > ${path.join(m.dir, 'dockerd.pid')}\nexec /bin/sleep 30`)} ;; esac`,
    );
    expect(await failure(ensureHostTools(m.log, m.sys))).toBe(
      `the Docker engine did not answer within 1 s; fix: ${m.sys.dockerdLog} says why`,
    );
  });

  it('dockerd cannot be executed: a result, not an uncaught spawn error', async () => {
    const m = freshMachine();
    m.fake('apt-get', 'exit 0');
    writeFileSync(path.join(m.bin, 'dockerd'), '#!/nonexistent/sh\n', { mode: 0o755 });
    expect(await failure(ensureHostTools(m.log, m.sys))).toMatch(
      /^dockerd could not start: spawn \S+\/dockerd ENOENT; fix: /,
    );
  });

  it('engine installed but stopped, not root: says how to start it', async () => {
    const m = freshMachine({ root: false });
    m.fake('dockerd', 'exit 1');
    expect(await failure(ensureHostTools(m.log, m.sys))).toMatch(
      /^no Docker engine answers \(Cannot connect to the Docker daemon at .*\), and starting one needs root; fix: sudo systemctl start docker/,
    );
  });

  it('engine runs but its socket refuses this user: says to join the docker group', async () => {
    const m = freshMachine({ root: false });
    m.fake(
      'docker',
      'echo "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock" >&2; exit 1',
    );
    expect(await failure(ensureHostTools(m.log, m.sys))).toMatch(
      /^the Docker engine runs but this user may not use it \(permission denied .*\); fix: run infra lab up as root, or join the docker group/,
    );
  });
});

describe('infra lab up on that machine', () => {
  it('prints one line that says what failed and the fix, exits 1, no stack trace', () => {
    const m = freshMachine();
    m.fake(
      'apt-get',
      'case "$1" in install) echo "E: Unable to locate package docker.io" >&2; exit 100;; esac',
    );
    const inventory = path.join(m.dir, 'inventory.yaml');
    copyFileSync('inventory.yaml', inventory);
    // Only the fakes on PATH: node itself is run by its absolute path.
    const r = spawnSync(process.execPath, [path.resolve('bin/infra.js'), '-i', inventory, 'lab', 'up'], {
      env: { PATH: m.bin, HOME: m.dir, NO_COLOR: '1' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([
      process.getuid?.() === 0
        ? 'lab: error: apt-get install docker.io failed (exit 100): E: Unable to locate package docker.io; fix: run apt-get install -y docker.io to see the whole error, repair it, then infra lab up again'
        : 'lab: error: the lab needs docker.io on this machine (missing: dockerd); fix: sudo apt-get install -y docker.io, then infra lab up again (or run infra lab up as root)',
    ]);
  });
});
