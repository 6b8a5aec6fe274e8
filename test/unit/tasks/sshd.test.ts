import { describe, expect, it } from 'vitest';
import {
  parseSshd,
  SSHD_DROPIN_CONTENT,
  SSHD_PROBE,
  sshdApplyScript,
  sshdRollbackScript,
  sshdTask,
} from '../../../src/tasks/sshd.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const GOOD = 'passwordauthentication no\nkbdinteractiveauthentication no\npermitrootlogin without-password\n';
const FRESH =
  'passwordauthentication yes\nkbdinteractiveauthentication no\npermitrootlogin without-password\n';
const probe = (dropin: string | null, effective: string, sources = '') =>
  `@@dropin\n${dropin === null ? 'MISSING' : b64(dropin)}\n@@effective\n${effective}@@sources\n${sources}`;
const AAA = '/etc/ssh/sshd_config.d/00-aaa.conf passwordauthentication yes\n';
const OURS =
  '/etc/ssh/sshd_config.d/00-infra.conf passwordauthentication no\n/etc/ssh/sshd_config.d/00-infra.conf kbdinteractiveauthentication no\n/etc/ssh/sshd_config.d/00-infra.conf permitrootlogin prohibit-password\n';

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
    [
      'set earlier by another file, which the probe did not see',
      probe(SSHD_DROPIN_CONTENT, FRESH),
      ['effective'],
    ],
    // sshd keeps the first value: a drop-in sorting before 00-infra.conf wins over ours.
    ['a foreign drop-in read before ours', probe(SSHD_DROPIN_CONTENT, FRESH, AAA + OURS), ['overridden-by']],
    ['a foreign drop-in on a fresh host', probe(null, FRESH, AAA), ['file-missing', 'overridden-by']],
    // 50-cloud-init.conf sorts after ours: once ours is in, it no longer decides anything.
    [
      'cloud-init read after ours',
      probe(null, FRESH, '/etc/ssh/sshd_config.d/50-cloud-init.conf passwordauthentication yes\n'),
      ['file-missing', 'effective'],
    ],
    [
      'a foreign drop-in that agrees with us is no override',
      probe(
        SSHD_DROPIN_CONTENT,
        GOOD,
        `/etc/ssh/sshd_config.d/00-aaa.conf passwordauthentication no\n${OURS}`,
      ),
      [],
    ],
    [
      'the main sshd_config, read after the drop-ins',
      probe(SSHD_DROPIN_CONTENT, FRESH, '/etc/ssh/sshd_config passwordauthentication yes\n'),
      ['effective'],
    ],
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

  it('names the file that overrides us, and what to do about it', () => {
    const [c] = t.diff(t.parse(probe(SSHD_DROPIN_CONTENT, FRESH, AAA + OURS)));
    expect(c).toEqual({
      summary:
        "sshd uses PasswordAuthentication yes, want no: overridden by /etc/ssh/sshd_config.d/00-aaa.conf, read before /etc/ssh/sshd_config.d/00-infra.conf (not infra's to edit: remove the line there)",
      kind: 'overridden-by',
      expected: 'no',
      actual: { value: 'yes', file: '/etc/ssh/sshd_config.d/00-aaa.conf' },
    });
  });

  it.each([
    [
      'converged, overridden by a foreign drop-in: the path UFW proves stays as it is',
      probe(SSHD_DROPIN_CONTENT, FRESH, AAA + OURS),
      true,
    ],
    ['fresh host: our drop-in is not in yet', probe(null, FRESH, AAA), false],
    ['our drop-in differs', probe(`PermitRootLogin yes\n${SSHD_DROPIN_CONTENT}`, GOOD), false],
    [
      'merged config invalid: a restart would not come back',
      probe(SSHD_DROPIN_CONTENT, 'invalid line 1: Bogus\n'),
      false,
    ],
  ])('safe for its dependents: %s -> %s', (_n, out, safe) => {
    expect(t.safe!(t.parse(out))).toBe(safe);
  });

  it('the probe lists the drop-ins in byte order, then sshd_config, and stops at a Match block', () => {
    expect(SSHD_PROBE).toContain(
      'for s in $(LC_ALL=C; echo /etc/ssh/sshd_config.d/*.conf) /etc/ssh/sshd_config; do',
    );
    expect(SSHD_PROBE).toContain('k == "match" { exit }');
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
