import type { Change, Task } from '../engine/task.js';
import { unifiedDiff } from '../util/unified-diff.js';
import { atomicWrite, type FileState, fileProbe, parseFileProbe, restoreFile } from './lib/file.js';

export const AFTER_RULES = '/etc/ufw/after.rules';
const BEGIN = '# BEGIN UFW AND DOCKER';
const END = '# END UFW AND DOCKER';

/**
 * chaifeng/ufw-docker's DOCKER-USER rules (UPSTREAM §3): traffic to containers from outside
 * private ranges is dropped unless a rule says otherwise, because Docker's published ports are
 * DNATed before UFW's INPUT rules ever see them. Added to upstream's block: the tailnet reaches
 * containers (sources there are 100.64.0.0/10, outside the RFC 1918 returns), and each host port
 * in public_ports is let through by its original (pre-DNAT) destination port.
 */
export function dockerUserBlock(
  publicPorts: readonly number[],
  privatePorts: readonly number[] = [],
): string {
  return [
    BEGIN,
    '*filter',
    ':ufw-user-forward - [0:0]',
    ':ufw-docker-logging-deny - [0:0]',
    ':DOCKER-USER - [0:0]',
    '-A DOCKER-USER -j ufw-user-forward',
    '',
    '-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
    '-A DOCKER-USER -m conntrack --ctstate INVALID -j DROP',
    '-A DOCKER-USER -i docker0 -o docker0 -j ACCEPT',
    '-A DOCKER-USER -i tailscale0 -j RETURN',
    // Ports whose bind address infra cannot choose (Dokploy's, docker.ts FIREWALLED): closed to
    // every source but the tailnet and loopback, private ranges included (a provider's LAN).
    ...[...privatePorts]
      .sort((a, b) => a - b)
      .flatMap((p) =>
        ['tcp', 'udp'].map(
          (proto) =>
            `-A DOCKER-USER -p ${proto} -m conntrack --ctstate NEW --ctorigdstport ${p} --ctdir ORIGINAL -j ufw-docker-logging-deny`,
        ),
      ),
    ...[...publicPorts]
      .sort((a, b) => a - b)
      .flatMap((p) =>
        ['tcp', 'udp'].map(
          (proto) =>
            `-A DOCKER-USER -p ${proto} -m conntrack --ctorigdstport ${p} --ctdir ORIGINAL -j RETURN`,
        ),
      ),
    '',
    '-A DOCKER-USER -j RETURN -s 10.0.0.0/8',
    '-A DOCKER-USER -j RETURN -s 172.16.0.0/12',
    '-A DOCKER-USER -j RETURN -s 192.168.0.0/16',
    '',
    '-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 10.0.0.0/8',
    '-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 172.16.0.0/12',
    '-A DOCKER-USER -j ufw-docker-logging-deny -m conntrack --ctstate NEW -d 192.168.0.0/16',
    '',
    '-A DOCKER-USER -j RETURN',
    '',
    '-A ufw-docker-logging-deny -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW DOCKER BLOCK] "',
    '-A ufw-docker-logging-deny -j DROP',
    '',
    'COMMIT',
    END,
    '',
  ].join('\n');
}

/** Pure: after.rules with our block (between the markers) replaced, or appended when absent. */
export function withDockerBlock(current: string, block: string): string {
  const start = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  const kept =
    start >= 0 && end > start
      ? current.slice(0, start) + current.slice(end + END.length).replace(/^\n/, '')
      : current;
  return `${kept}${kept.endsWith('\n') || kept === '' ? '' : '\n'}${block}`;
}

export function diffDockerBlock(block: string, s: FileState): Change[] {
  if (!s.exists)
    return [
      {
        summary: `add the DOCKER-USER rules to ${AFTER_RULES} (once ufw is installed)`,
        kind: 'file-missing',
      },
    ];
  const want = withDockerBlock(s.content, block);
  return want === s.content
    ? []
    : [
        {
          summary: `${s.content.includes(BEGIN) ? 'update' : 'add'} the DOCKER-USER rules in ${AFTER_RULES} (containers unreachable from public addresses), ufw reload`,
          kind: 'file-content',
          diff: unifiedDiff(s.content, want, AFTER_RULES),
        },
      ];
}

/** Replace the file (mode kept), and reload only a running firewall; `ufw reload` validates by loading. */
export function writeRulesScript(content: string): { script: string; stdin: string } {
  return {
    script: [
      atomicWrite({ path: AFTER_RULES, keepMode: true }),
      'if ufw status | grep -q "^Status: active"; then ufw reload; fi',
    ].join('\n'),
    stdin: content,
  };
}

/**
 * The DOCKER-USER block in after.rules. A bad reload can leave the firewall half loaded, so it
 * runs under the lockout guard; the rollback writes the probed file back and reloads.
 */
export function ufwDockerTask(
  want: { publicPorts: readonly number[]; privatePorts?: readonly number[] },
  after: string[] = [],
): Task<FileState> {
  const block = dockerUserBlock(want.publicPorts, want.privatePorts ?? []);
  return {
    id: 'ufw:docker',
    after,
    probe: fileProbe(AFTER_RULES),
    parse: parseFileProbe,
    diff: (s) => diffDockerBlock(block, s),
    apply: (s) => [writeRulesScript(withDockerBlock(s.exists ? s.content : '', block))],
    rollback: (s) => {
      if (!s.exists) return 'true\n';
      return `${restoreFile(AFTER_RULES, s.content)}\nif ufw status | grep -q "^Status: active"; then ufw reload; fi\n`;
    },
  };
}
