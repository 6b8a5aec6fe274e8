import { describe, expect, it } from 'vitest';
import { parseUfw, ufwApplyScript, ufwRollbackScript, ufwTask } from '../../../src/tasks/ufw.js';
import { parseTuples, ruleArgs, ruleOf } from '../../../src/tasks/ufw-rules.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const want = {
  incoming: 'deny' as const,
  outgoing: 'allow' as const,
  allow: [{ interface: 'tailscale0' }, { port: 443, proto: 'tcp' as const }],
};
const TS4 = '### tuple ### allow any any 0.0.0.0/0 any 0.0.0.0/0 in_tailscale0';
const TS6 = '### tuple ### allow any any ::/0 any ::/0 in_tailscale0';
const H4 = '### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in';
const H6 = '### tuple ### allow tcp 443 ::/0 any ::/0 in';
const rulesFile = (...tuples: string[]) =>
  `*filter\n:ufw-user-input - [0:0]\n### RULES ###\n\n${tuples.map((t) => `${t}\n-A ufw-user-input -j ACCEPT\n`).join('\n')}\n### END RULES ###\nCOMMIT\n`;
const probe = (o: { enabled: boolean; input?: string; output?: string; v4?: string[]; v6?: string[] }) =>
  [
    '@@conf',
    b64(`# /etc/ufw/ufw.conf\nENABLED=${o.enabled ? 'yes' : 'no'}\nLOGLEVEL=low\n`),
    '@@defaults',
    b64(
      `IPV6=yes\nDEFAULT_INPUT_POLICY="${o.input ?? 'DROP'}"\nDEFAULT_OUTPUT_POLICY="${o.output ?? 'ACCEPT'}"\nDEFAULT_FORWARD_POLICY="DROP"\n`,
    ),
    '@@rules',
    b64(rulesFile(...(o.v4 ?? []))),
    '@@rules6',
    b64(rulesFile(...(o.v6 ?? []))),
    '',
  ].join('\n');
const CONVERGED = { enabled: true, v4: [TS4, H4], v6: [TS6, H6] };

describe('ufw', () => {
  const t = ufwTask(want);
  it.each([
    [
      'fresh: installed, inactive, no rules',
      probe({ enabled: false }),
      ['rule-missing', 'rule-missing', 'disabled'],
    ],
    [
      'not installed',
      '@@conf\nMISSING\n@@defaults\nMISSING\n@@rules\nMISSING\n@@rules6\nMISSING\n',
      ['default-changed', 'default-changed', 'rule-missing', 'rule-missing', 'disabled'],
    ],
    ['converged', probe(CONVERGED), []],
    ['converged, IPv6 off', probe({ enabled: true, v4: [TS4, H4] }), []],
    ['disabled by hand', probe({ ...CONVERGED, enabled: false }), ['disabled']],
    ['default incoming allow', probe({ ...CONVERGED, input: 'ACCEPT' }), ['default-changed']],
    [
      'ufw allow 8080/tcp by hand',
      probe({
        ...CONVERGED,
        v4: [...CONVERGED.v4, '### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in'],
        v6: [...CONVERGED.v6, '### tuple ### allow tcp 8080 ::/0 any ::/0 in'],
      }),
      ['rule-extra'],
    ],
    [
      'public SSH opened by hand (OpenSSH profile)',
      probe({
        ...CONVERGED,
        v4: [...CONVERGED.v4, '### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in'],
      }),
      ['rule-extra'],
    ],
    ['443 lost', probe({ enabled: true, v4: [TS4], v6: [TS6] }), ['rule-missing']],
  ])('%s', (_n, out, kinds) => {
    expect(t.diff(t.parse(out)).map((c) => c.kind)).toEqual(kinds);
  });

  it('says why a rule goes', () => {
    const s = t.parse(
      probe({
        ...CONVERGED,
        v4: [...CONVERGED.v4, '### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in comment=6869'],
      }),
    );
    expect(t.diff(s).map((c) => c.summary)).toEqual(['remove rule allow 8080/tcp (not in the inventory)']);
  });

  it('names the rules the inventory wants', () => {
    expect(t.diff(t.parse(probe({ enabled: true }))).map((c) => c.summary)).toEqual([
      'add rule allow in on tailscale0',
      'add rule allow 443/tcp',
    ]);
  });

  it('applies defaults, rules, removals, and enables last, without a prompt', () => {
    const s = parseUfw(
      probe({
        enabled: false,
        input: 'ACCEPT',
        v4: ['### tuple ### allow tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in'],
      }),
    );
    expect(ufwApplyScript(want, s).split(' && \\\n')).toEqual([
      'ufw default deny incoming',
      'ufw allow in on tailscale0 from any to any',
      'ufw allow in proto tcp from any to any port 443',
      'ufw delete allow in proto tcp from any to any port 8080',
      'ufw --force enable',
    ]);
  });

  it('rollback restores each probed file (embedded) and the enabled state', () => {
    const disabled = parseUfw(probe({ enabled: false }));
    const r = ufwRollbackScript(disabled);
    expect(r).toContain(b64(disabled.files.rules!));
    expect(r).toContain(
      '| base64 -d > /etc/default/ufw.infra-rollback && mv -f /etc/default/ufw.infra-rollback /etc/default/ufw',
    );
    expect(r.trimEnd().split('\n').pop()).toBe('ufw --force disable');
    expect(
      ufwRollbackScript(parseUfw(probe(CONVERGED)))
        .trimEnd()
        .split('\n')
        .pop(),
    ).toBe('ufw --force enable');
  });
});

describe('ufw rules', () => {
  it.each([
    [{ interface: 'tailscale0' }, ['allow', 'in', 'on', 'tailscale0', 'from', 'any', 'to', 'any']],
    [
      { port: 443, proto: 'tcp' as const },
      ['allow', 'in', 'proto', 'tcp', 'from', 'any', 'to', 'any', 'port', '443'],
    ],
    [{ port: 53 }, ['allow', 'in', 'from', 'any', 'to', 'any', 'port', '53']],
    [
      { port: 5432, proto: 'tcp' as const, interface: 'tailscale0' },
      ['allow', 'in', 'on', 'tailscale0', 'proto', 'tcp', 'from', 'any', 'to', 'any', 'port', '5432'],
    ],
  ])('%j as ufw words', (rule, args) => {
    expect(ruleArgs(ruleOf(rule))).toEqual(args);
  });
  it('removes a rule found on the host by its tuple alone', () => {
    const [route, app, src] = parseTuples(
      [
        '### tuple ### route:allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0',
        '### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in',
        '### tuple ### deny any 25 0.0.0.0/0 any 10.0.0.0/8 out',
      ].join('\n'),
    );
    expect(ruleArgs(route!)).toEqual([
      'route',
      'allow',
      'in',
      'on',
      'eth0',
      'proto',
      'tcp',
      'from',
      'any',
      'to',
      'any',
      'port',
      '80',
    ]);
    expect(ruleArgs(app!)).toEqual(['allow', 'in', 'from', 'any', 'to', 'any', 'app', 'OpenSSH']);
    expect(ruleArgs(src!)).toEqual(['deny', 'out', 'from', '10.0.0.0/8', 'to', 'any', 'port', '25']);
  });
  it('a rule UFW mirrored into user6.rules is one rule', () => {
    expect(parseTuples(`${TS4}\n`, `${TS6}\n`)).toHaveLength(1);
  });
});
