import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DRILL_SCRIPT, DRILL_STATE_DIR } from '../../../src/tasks/backup-drill.js';
import { COPIES_DIR, PULL_CONF } from '../../../src/tasks/backup-pull.js';
import { fakeTools } from '../fake-tools.js';

/**
 * The weekly drill (no arguments) run for real in dash, its paths in a scratch dir; docker a
 * stand-in that cannot start a server, so an app that has a copy fails at that step.
 */
function weeklyDrill(apps: Record<string, string[]>) {
  const t = fakeTools('infra-drill-');
  const copies = path.join(t.dir, 'copies');
  const state = path.join(t.dir, 'state');
  const conf = path.join(t.dir, 'apps.conf');
  writeFileSync(
    conf,
    Object.keys(apps)
      .map((a) => `${a} 100.64.0.2 22 7 18\n`)
      .join(''),
  );
  for (const [app, files] of Object.entries(apps)) {
    mkdirSync(path.join(copies, app), { recursive: true });
    for (const f of files) writeFileSync(path.join(copies, app, f), '');
  }
  t.fake('docker', 'echo "no daemon here" >&2; exit 1');
  const script = path.join(t.dir, 'infra-backup-drill');
  writeFileSync(
    script,
    DRILL_SCRIPT.replaceAll(PULL_CONF, conf)
      .replaceAll(COPIES_DIR, copies)
      .replaceAll(DRILL_STATE_DIR, state),
  );
  chmodSync(script, 0o755); // the no-argument run calls itself ("$0") once per app
  let code = 0;
  let out = '';
  try {
    out = execFileSync('dash', [script], {
      env: { PATH: `${t.bin}:/usr/bin:/bin` },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  } catch (e) {
    code = (e as { status: number }).status;
    out = String((e as { stdout: Buffer }).stdout);
  }
  const last = (app: string) => {
    const f = path.join(state, `${app}.last`);
    return existsSync(f) ? readFileSync(f, 'utf8') : null;
  };
  return { code, out, last };
}

describe('the weekly restore drill', () => {
  it('an app with no copy yet has nothing to drill: no failed drill recorded, exit 0', () => {
    const r = weeklyDrill({ beanstock: [], docflow: ['unrelated.txt'] });
    expect(r.code).toBe(0);
    expect(r.out).toContain('no copy of beanstock yet: nothing to drill');
    expect(r.out).toContain('no copy of docflow yet: nothing to drill');
    expect([r.last('beanstock'), r.last('docflow')]).toEqual([null, null]);
  });

  it('an app with a copy is drilled beside one without; its failure is recorded and the run fails', () => {
    const name = 'xhosa-20261206T023000Z.dump';
    const r = weeklyDrill({ beanstock: [], xhosa: [name, `${name}.sha256`, `${name}.manifest`] });
    expect(r.code).toBe(1);
    expect(r.last('beanstock')).toBeNull();
    // The copy's sha256 file is empty, so the drill refuses it before any server is started.
    expect(r.last('xhosa')).toMatch(new RegExp(`^failed \\d+ ${name} control `));
  });
});
