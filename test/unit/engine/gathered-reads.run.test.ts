import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { batchScript, sharedReadsOf, splitBatch } from '../../../src/engine/batch.js';
import type { AnyTask } from '../../../src/engine/task.js';
import { packagesTask } from '../../../src/tasks/packages.js';
import { serviceTask } from '../../../src/tasks/service.js';
import { fakeTools } from '../fake-tools.js';

/**
 * Gathering reads, run for real in dash against a stand-in systemctl and dpkg-query that log
 * their calls: one call for all units and one for all packages, whatever the number of tasks.
 */
function world() {
  const { bin, fake, calls, clearCalls } = fakeTools('infra-gather-');
  // Like systemd: one block per unit asked, in order, a blank line between; aliases named too.
  fake(
    'systemctl',
    [
      'shift 6; first=1',
      'for u in "$@"; do',
      '  [ -n "$first" ] || echo; first=',
      '  case "$u" in',
      '    docker.service) printf "Names=docker.service\\nActiveState=active\\nUnitFileState=enabled\\n" ;;',
      '    sshd.service) printf "Names=ssh.service sshd.service\\nActiveState=inactive\\nUnitFileState=enabled\\n" ;;',
      '    *) printf "Names=%s\\nActiveState=inactive\\nUnitFileState=\\n" "$u" ;;',
      '  esac',
      'done',
    ].join('\n'),
  );
  fake('dpkg-query', 'printf "curl ii \\nufw ii \\ndocker.io un \\n"');
  const run = (tasks: AnyTask[]) => {
    clearCalls();
    const probes = [...new Set(tasks.map((t) => t.probe))];
    const r = spawnSync('dash', ['-c', batchScript(probes, 'n', sharedReadsOf(tasks))], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    });
    const out = splitBatch(r.stdout, probes.length, 'n');
    return {
      calls: calls(),
      state: (t: AnyTask) => t.parse(out[probes.indexOf(t.probe)]!.stdout),
    };
  };
  return { run };
}

describe('gathering reads', () => {
  it('one systemctl show for every unit; each service finds its own block, aliases included', () => {
    const tasks = ['docker.service', 'sshd.service', 'cloudflared.service'].map((u) => serviceTask(u));
    const { calls, state } = world().run(tasks);
    expect(calls).toEqual([
      'systemctl show -p Names -p UnitFileState -p ActiveState cloudflared.service docker.service sshd.service',
    ]);
    expect(tasks.map(state)).toEqual([
      { enabled: 'enabled', active: 'active' },
      { enabled: 'enabled', active: 'inactive' },
      { enabled: 'not-found', active: 'inactive' },
    ]);
  });

  it('one dpkg-query for every package set; each set judges only its own names', () => {
    const base = packagesTask({ set: 'base', names: ['ufw', 'curl'] });
    const docker = packagesTask({ set: 'docker', names: ['docker.io'] });
    const { calls, state } = world().run([base, docker]);
    // (dash's echo in the log turns the format's \n into a line break)
    expect(calls.join('\n')).toMatch(
      /^dpkg-query -W -f \$\{Package\} \$\{db:Status-Abbrev\}\n curl docker.io ufw$/,
    );
    expect(base.diff(state(base))).toEqual([]);
    expect(docker.diff(state(docker)).map((c) => c.summary)).toEqual(['install docker.io']);
  });
});
