import { describe, expect, it } from 'vitest';
import {
  parseSshd,
  SSHD_DROPIN_CONTENT,
  sshdApplyScript,
  sshdRollbackScript,
  sshdTask,
} from '../../../src/tasks/sshd.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const GOOD = 'passwordauthentication no\nkbdinteractiveauthentication no\npermitrootlogin without-password\n';
const FRESH =
  'passwordauthentication yes\nkbdinteractiveauthentication no\npermitrootlogin without-password\n';
const probe = (dropin: string | null, effective: string) =>
  `@@dropin\n${dropin === null ? 'MISSING' : b64(dropin)}\n@@effective\n${effective}`;

describe('sshd', () => {
  const t = sshdTask();
  it.each([
    ['fresh Debian', probe(null, FRESH), ['file-missing', 'effective']],
    ['converged', probe(SSHD_DROPIN_CONTENT, GOOD), []],
    [
      'converged, new spelling',
      probe(SSHD_DROPIN_CONTENT, GOOD.replace('without-password', 'prohibit-password')),
      [],
    ],
    [
      'stray setting in our drop-in',
      probe(`PermitRootLogin yes\n${SSHD_DROPIN_CONTENT}`, GOOD.replace('without-password', 'yes')),
      ['file-content', 'effective'],
    ],
    ['set earlier by another file', probe(SSHD_DROPIN_CONTENT, FRESH), ['effective']],
    [
      'merged config invalid',
      probe(
        SSHD_DROPIN_CONTENT,
        'invalid /etc/ssh/sshd_config.d/99-x.conf line 1: Bad configuration option: Bogus\n',
      ),
      ['config-invalid'],
    ],
  ])('%s', (_n, out, kinds) => {
    expect(t.diff(t.parse(out)).map((c) => c.kind)).toEqual(kinds);
  });

  it('names the effective value it found', () => {
    const [, c] = t.diff(t.parse(probe(null, FRESH)));
    expect(c!.summary).toBe('sshd uses PasswordAuthentication yes, want no');
  });

  it('the drop-in turns passwords off and root to keys only', () => {
    expect(SSHD_DROPIN_CONTENT).toMatch(/^PasswordAuthentication no$/m);
    expect(SSHD_DROPIN_CONTENT).toMatch(/^KbdInteractiveAuthentication no$/m);
    expect(SSHD_DROPIN_CONTENT).toMatch(/^PermitRootLogin prohibit-password$/m);
  });

  it('validates with sshd -t before the reload, and puts the old file back when it fails', () => {
    const s = sshdApplyScript();
    const install = s.indexOf('mv -f "$tmp" "$f"');
    const validate = s.indexOf('sshd -t');
    const reload = s.indexOf('systemctl reload ssh');
    expect(install).toBeGreaterThan(0);
    expect(validate).toBeGreaterThan(install);
    expect(reload).toBeGreaterThan(validate);
    expect(s).toMatch(/if ! err=\$\(sshd -t 2>&1\); then restore;/);
    const [step] = sshdTask().apply(parseSshd(probe(null, FRESH)), []);
    expect(step!.stdin).toBe(SSHD_DROPIN_CONTENT);
  });

  it('rollback restores the probed drop-in, embedded; or removes a drop-in that did not exist', () => {
    const old = "PermitRootLogin yes # it's old\n";
    const r = sshdRollbackScript(parseSshd(probe(old, GOOD)));
    expect(r).toContain(b64(old));
    expect(r).toContain('systemctl reload ssh');
    expect(sshdRollbackScript(parseSshd(probe(null, FRESH)))).toMatch(
      /^rm -f \/etc\/ssh\/sshd_config\.d\/00-infra\.conf\n/,
    );
  });
});
