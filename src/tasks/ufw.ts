import type { Change, Task } from '../engine/task.js';
import type { FirewallRule } from '../inventory/schema.js';
import { shCmd } from '../quote.js';
import { contentProbe, parseContent, restoreFile } from './lib/file.js';
import { keyValues, sections } from './lib/parse.js';
import { describeRule, parseTuples, ruleArgs, ruleKey, ruleOf, type UfwRule } from './ufw-rules.js';

export type Policy = 'deny' | 'allow' | 'reject';

export interface UfwWant {
  incoming: Policy;
  outgoing: Policy;
  allow: FirewallRule[];
}

/** The files UFW keeps its whole state in: readable (and restorable) without ufw running. */
export const UFW_FILES = {
  conf: '/etc/ufw/ufw.conf',
  defaults: '/etc/default/ufw',
  rules: '/etc/ufw/user.rules',
  rules6: '/etc/ufw/user6.rules',
} as const;
type FileKey = keyof typeof UFW_FILES;

export interface UfwState {
  /** Raw file contents (null: missing), kept for the rollback. */
  files: Record<FileKey, string | null>;
  enabled: boolean;
  incoming: string;
  outgoing: string;
  rules: UfwRule[];
}

const POLICY_OF: Record<string, string> = { DROP: 'deny', ACCEPT: 'allow', REJECT: 'reject' };

export const UFW_PROBE = (Object.keys(UFW_FILES) as FileKey[])
  .map((k) => `echo @@${k}\n${contentProbe(UFW_FILES[k])}`)
  .join('\n');

export function parseUfw(stdout: string): UfwState {
  const s = sections(stdout);
  const files = {} as Record<FileKey, string | null>;
  for (const k of Object.keys(UFW_FILES) as FileKey[]) files[k] = parseContent(s.get(k) ?? '');
  const unquote = (v: string | undefined) => (v ?? '').replace(/^["']|["']$/g, '');
  const conf = keyValues((files.conf ?? '').toLowerCase());
  const defaults = keyValues(
    (files.defaults ?? '')
      .split('\n')
      .map((l) => l.replace(/^([A-Z_]+)=/, (_m, k: string) => `${k.toLowerCase()}=`))
      .join('\n'),
  );
  return {
    files,
    enabled: unquote(conf.get('enabled')) === 'yes',
    incoming: POLICY_OF[unquote(defaults.get('default_input_policy'))] ?? 'unknown',
    outgoing: POLICY_OF[unquote(defaults.get('default_output_policy'))] ?? 'unknown',
    rules: parseTuples(files.rules ?? '', files.rules6 ?? ''),
  };
}

export interface UfwPlan {
  defaults: { direction: 'incoming' | 'outgoing'; policy: Policy; was: string }[];
  missing: UfwRule[];
  extra: UfwRule[];
  enable: boolean;
}

export function planUfw(want: UfwWant, s: UfwState): UfwPlan {
  const wanted = want.allow.map(ruleOf);
  const wantedKeys = new Set(wanted.map(ruleKey));
  const haveKeys = new Set(s.rules.map(ruleKey));
  return {
    defaults: (['incoming', 'outgoing'] as const)
      .filter((d) => s[d] !== want[d])
      .map((d) => ({ direction: d, policy: want[d], was: s[d] })),
    missing: wanted.filter((r) => !haveKeys.has(ruleKey(r))),
    extra: s.rules.filter((r) => !wantedKeys.has(ruleKey(r))),
    enable: !s.enabled,
  };
}

export function diffUfw(want: UfwWant, s: UfwState): Change[] {
  const p = planUfw(want, s);
  return [
    ...p.defaults.map((d) => ({
      summary: `set default ${d.direction} ${d.policy} (was ${d.was})`,
      kind: 'default-changed',
      expected: d.policy,
      actual: d.was,
    })),
    ...p.missing.map((r) => ({
      summary: `add rule ${describeRule(r)}`,
      kind: 'rule-missing',
      expected: describeRule(r),
      actual: null,
    })),
    ...p.extra.map((r) => ({
      summary: `remove rule ${describeRule(r)} (not in the inventory)`,
      kind: 'rule-extra',
      expected: null,
      actual: describeRule(r),
    })),
    ...(p.enable
      ? [
          {
            summary: 'enable ufw (public SSH closes; SSH stays reachable as the rules allow)',
            kind: 'disabled',
            expected: 'active',
            actual: 'inactive',
          },
        ]
      : []),
  ];
}

/** Defaults, then the inventory's rules, then removals, and enabling last (non-interactive). */
export function ufwApplyScript(want: UfwWant, s: UfwState): string {
  const p = planUfw(want, s);
  return [
    ...p.defaults.map((d) => shCmd(['ufw', 'default', d.policy, d.direction])),
    ...p.missing.map((r) => shCmd(['ufw', ...ruleArgs(r)])),
    ...p.extra.map((r) =>
      shCmd([
        'ufw',
        ...(r.action.startsWith('route:')
          ? ['route', 'delete', ...ruleArgs(r).slice(1)]
          : ['delete', ...ruleArgs(r)]),
      ]),
    ),
    ...(p.enable ? ['ufw --force enable'] : []),
  ].join(' && \\\n');
}

/** Run by the dead-man switch: the probed files (embedded, base64) back, and ufw as it was. */
export function ufwRollbackScript(s: UfwState): string {
  const lines = (Object.keys(UFW_FILES) as FileKey[]).map((k) => restoreFile(UFW_FILES[k], s.files[k]));
  lines.push(s.enabled ? 'ufw --force enable' : 'ufw --force disable');
  return `${lines.join('\n')}\n`;
}

/** Exactly the inventory's UFW policy: defaults and rules; any other rule is drift and goes. */
export function ufwTask(want: UfwWant, after: string[] = []): Task<UfwState> {
  return {
    id: 'ufw',
    after,
    probe: UFW_PROBE,
    parse: parseUfw,
    diff: (s) => diffUfw(want, s),
    apply: (s) => [{ script: ufwApplyScript(want, s), timeoutMs: 120_000 }],
    rollback: ufwRollbackScript,
    safe: ufwSafe,
  };
}

/**
 * What Docker and the tunnel need from UFW before they run: the firewall on, closing what it does
 * not allow. A rule that differs (one too many, one missing) is drift to fix, not a reason to hold
 * back the engine: container ports go through DOCKER-USER (ufw:docker), not these rules.
 */
export const ufwSafe = (s: UfwState) => s.enabled && (s.incoming === 'deny' || s.incoming === 'reject');
