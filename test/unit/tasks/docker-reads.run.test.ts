import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchScript, sharedReadsOf } from '../../../src/engine/batch.js';
import type { AnyTask } from '../../../src/engine/task.js';
import { composeStackTask, writeHashCacheScript } from '../../../src/tasks/compose-stack.js';
import { exposureTask } from '../../../src/tasks/docker.js';
import { appOrphansTask } from '../../../src/tasks/postgres-app.js';
import { stackHealthTask } from '../../../src/tasks/stack-health.js';
import { fakeTools } from '../fake-tools.js';

/**
 * The probes that share one `docker ps` (and one `docker inspect`), run for real in dash against
 * a stand-in `docker` and `curl` that log every call: each probe must see only its own part of the
 * shared read, and compose is asked for a config hash only when the cached one does not apply.
 */
const T = '\t';
const PS = [
  [
    'c1',
    'shop-db-1',
    'shop',
    'db',
    'running',
    'h-db',
    'postgres:18',
    'Up 2 hours (healthy)',
    '100.77.0.11:15001->5432/tcp',
    'shop',
  ],
  ['c2', 'shop-web-1', 'shop', 'web', 'exited', 'h-web', 'nginx:1', 'Exited (1) 3 minutes ago', '', ''],
  ['c3', 'old-db-1', 'old', 'db', 'running', 'h-old', 'postgres:17', 'Up 1 hour', '', 'old'],
  ['c4', 'loud', '', '', 'running', '', 'valkey:8', 'Up 1 minute', '0.0.0.0:8081->6379/tcp', ''],
]
  .map((r) => r.join(T))
  .join('\n');
const INSPECT = `shop${T}db${T}shop_default=172.18.0.2${T}app=172.19.0.5\nold${T}db${T}old_default=172.20.0.2`;

function world() {
  const { dir, bin, fake, calls, clearCalls } = fakeTools('infra-reads-');
  writeFileSync(path.join(dir, 'ps.txt'), `${PS}\n`);
  writeFileSync(path.join(dir, 'inspect.txt'), `${INSPECT}\n`);
  fake(
    'docker',
    [
      'case "$1" in',
      `  ps) cat ${dir}/ps.txt ;;`,
      `  inspect) cat ${dir}/inspect.txt ;;`,
      '  compose) echo "db h-db"; echo "web h-web" ;;',
      'esac',
    ].join('\n'),
  );
  // Like curl -w '%{http_code}\n' with several URLs: one code per URL, in order.
  fake(
    'curl',
    'for a; do case "$a" in http://172.18.0.2:8080/ok) echo 200 ;; http://*) echo 000 ;; esac; done',
  );
  const stackDir = path.join(dir, 'shop');
  mkdirSync(stackDir);
  const render = () => 'services:\n  db:\n    image: postgres:18\n';
  writeFileSync(path.join(stackDir, 'compose.yaml'), render());
  const stack = composeStackTask({ project: 'shop', dir: stackDir, render });
  const run = (script: string) =>
    spawnSync('dash', ['-c', script], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
  const probe = (tasks: AnyTask[]) => {
    clearCalls();
    const r = run(
      batchScript(
        tasks.map((t) => t.probe),
        'n',
        sharedReadsOf(tasks),
      ),
    );
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  };
  return { dir, stack, stackDir, probe, run, calls };
}

const section = (out: string, i: number) =>
  out.split(`@@infra:n:begin:${i}\n`)[1]!.split('\n@@infra:n:stderr:')[0]!;

describe('probes over the shared docker reads', () => {
  it('one docker ps and one docker inspect for every probe; each sees its own containers', () => {
    const w = world();
    const health = stackHealthTask({
      project: 'shop',
      checks: [
        { service: 'db', port: 8080, path: '/ok' },
        { service: 'web', port: 80, path: '/' },
      ],
    });
    const exposure = exposureTask('h', []);
    const orphans = appOrphansTask(['shop'], []);
    const tasks: AnyTask[] = [w.stack, exposure, orphans, health];
    const out = w.probe(tasks);
    const calls = w.calls().filter((c) => c.startsWith('docker'));
    expect(calls.filter((c) => c.startsWith('docker ps'))).toHaveLength(1);
    const inspects = calls.filter((c) => c.startsWith('docker inspect'));
    expect(inspects).toHaveLength(1);
    expect(inspects[0]).toMatch(/ c1 c3$/); // running compose containers only

    const st = w.stack.parse(section(out, 0));
    expect(st.containers.map((c: { service: string; state: string }) => `${c.service}:${c.state}`)).toEqual([
      'db:running',
      'web:exited',
    ]);
    expect(st.hashes).toEqual({ db: 'h-db', web: 'h-web' });
    expect(exposure.parse(section(out, 1))).toEqual([
      { container: 'shop-db-1', address: '100.77.0.11', ports: [15001, 15001], proto: 'tcp' },
      { container: 'loud', address: '0.0.0.0', ports: [8081, 8081], proto: 'tcp' },
    ]);
    expect(orphans.diff(orphans.parse(section(out, 2))).map((c) => c.actual)).toEqual(['old']);
    // db answers at its address on shop_default; web has no running container.
    expect(health.parse(section(out, 3))).toEqual({ db: '200', web: 'none' });
  });

  it('asks compose for config hashes only when the cache written after `up` does not match the file', () => {
    const w = world();
    const composeCalls = () => w.calls().filter((c) => c.startsWith('docker compose')).length;
    w.probe([w.stack]);
    expect(composeCalls()).toBe(1); // no cache yet
    const wrote = w.run(writeHashCacheScript({ project: 'shop', dir: w.stackDir }));
    expect(wrote.status, wrote.stderr).toBe(0);
    const out = w.probe([w.stack]);
    expect(composeCalls()).toBe(0);
    expect(w.stack.parse(section(out, 0)).hashes).toEqual({ db: 'h-db', web: 'h-web' });
    writeFileSync(path.join(w.stackDir, 'compose.yaml'), 'services: {}\n'); // edited by hand
    w.probe([w.stack]);
    expect(composeCalls()).toBe(1);
  });

  it('says so when Docker is not installed, without failing the probe', () => {
    const w = world();
    const tasks = [w.stack, exposureTask('h', []), appOrphansTask([], [])];
    // A PATH with the host's usual tools but no docker.
    const bin = path.join(w.dir, 'nodocker');
    mkdirSync(bin);
    for (const tool of ['awk', 'base64', 'cat', 'cut', 'head', 'sed', 'sha256sum', 'stat', 'tail'])
      symlinkSync(
        execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(),
        path.join(bin, tool),
      );
    const r = spawnSync(
      '/bin/dash',
      [
        '-c',
        batchScript(
          tasks.map((t) => t.probe),
          'n',
          sharedReadsOf(tasks),
        ),
      ],
      {
        encoding: 'utf8',
        env: { PATH: bin },
      },
    );
    expect(r.status).toBe(0);
    expect(w.stack.parse(section(r.stdout, 0)).docker).toBe(false);
    expect(section(r.stdout, 1)).toBe('');
    expect(section(r.stdout, 2)).toBe('');
  });
});
