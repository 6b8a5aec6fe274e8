import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import type { Secret } from '../secrets.js';
import { withStdinFile } from './lib/file.js';
import { sections } from './lib/parse.js';

export interface TailscaleState {
  installed: boolean;
  /** NoState | NeedsLogin | NeedsMachineAuth | Stopped | Starting | Running; "" when unknown. */
  backendState: string;
  runSSH: boolean;
  /** The --hostname pref ("" = the OS hostname). */
  hostname: string;
  /** tailscale ip -4, once joined. */
  ip?: string;
}

export interface TailscaleWant {
  hostname: string;
  ssh: boolean;
  /** Absent in check and dry-run, where nothing is applied. */
  authKey?: Secret;
}

export const TAILSCALE_PROBE = [
  'command -v tailscale >/dev/null 2>&1 || { echo @@missing; exit 0; }',
  'echo @@status',
  'tailscale status --json 2>/dev/null || echo "{}"',
  'echo @@prefs',
  'tailscale debug prefs 2>/dev/null || echo "{}"',
].join('\n');

const json = (text: string | undefined): Record<string, unknown> => {
  const t = (text ?? '').trim();
  return t ? (JSON.parse(t) as Record<string, unknown>) : {};
};

export function parseTailscale(stdout: string): TailscaleState {
  const s = sections(stdout);
  if (s.has('missing')) return { installed: false, backendState: '', runSSH: false, hostname: '' };
  const status = json(s.get('status'));
  const prefs = json(s.get('prefs'));
  // The node's own addresses (`Self.TailscaleIPs`; `tailscale ip -4` would cost another CLI start).
  const self = (status.Self ?? {}) as { TailscaleIPs?: unknown };
  const ips = Array.isArray(self.TailscaleIPs) ? self.TailscaleIPs : [];
  const ip = ips.find((a): a is string => typeof a === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(a));
  return {
    installed: true,
    backendState: typeof status.BackendState === 'string' ? status.BackendState : '',
    runSSH: prefs.RunSSH === true,
    hostname: typeof prefs.Hostname === 'string' ? prefs.Hostname : '',
    ip,
  };
}

export const isJoined = (s: TailscaleState) => s.backendState === 'Running';

/** Joining and the node name; the Tailscale SSH pref is its own guarded task (tailscaleSshTask). */
export function diffTailscale(want: TailscaleWant, s: TailscaleState): Change[] {
  if (!isJoined(s))
    return [
      {
        summary: `join the tailnet as ${want.hostname} (Tailscale SSH ${want.ssh ? 'on' : 'off'}; is ${s.backendState || (s.installed ? 'not running' : 'not installed')})`,
        kind: 'not-joined',
        expected: 'Running',
        actual: s.backendState || null,
      },
    ];
  if (s.hostname !== want.hostname)
    return [
      {
        summary: `set tailnet hostname ${want.hostname} (was ${s.hostname || 'unset'})`,
        kind: 'hostname-pref',
        expected: want.hostname,
        actual: s.hostname,
      },
    ];
  return [];
}

/**
 * The auth key goes on stdin into a 0600 file on tmpfs (/run) that is removed whatever `up`
 * returns; `up` reads it through --auth-key=file:PATH, so it is never in argv, ps or output.
 * Every pref `up` sets is stated (hostname, ssh), so a re-join never trips "requires mentioning
 * all non-default flags". Idempotency limit: non-default prefs set by hand outside infra make
 * such a re-join fail with tailscale's own message naming them.
 */
export function tailscaleUpScript(want: TailscaleWant): string {
  return withStdinFile(
    `tailscale up --auth-key="file:$f" --hostname=${shq(want.hostname)} --ssh=${want.ssh} --timeout=120s`,
    '/run/infra-tskey',
  );
}

export function tailscaleTask(want: TailscaleWant, after: string[] = []): Task<TailscaleState> {
  return {
    id: 'tailscale',
    after,
    probe: TAILSCALE_PROBE,
    parse: parseTailscale,
    diff: (s) => diffTailscale(want, s),
    apply: (s) => {
      if (isJoined(s)) return [{ script: `tailscale set --hostname=${shq(want.hostname)}` }];
      if (!want.authKey) throw new Error('the Tailscale auth key is not set (tailscale.auth_key)');
      return [{ script: tailscaleUpScript(want), stdin: want.authKey.reveal(), timeoutMs: 180_000 }];
    },
    learn: (s) => (isJoined(s) && s.ip ? { tailnetAddress: s.ip } : {}),
    // What sshd, UFW and the stacks need from it is a joined node with an address (the path the
    // lockout guard proves, the address stacks bind to), not a node name that differs.
    safe: (s) => isJoined(s) && Boolean(s.ip),
  };
}

/**
 * Tailscale SSH on or off, fixed with `tailscale set` (never `up` with a new flag set). Switching
 * it can drop a session that came in over Tailscale SSH, so it runs under the lockout guard and
 * accepts that risk explicitly; the rollback sets the probed value back.
 */
export function tailscaleSshTask(ssh: boolean, after: string[] = []): Task<TailscaleState> {
  const setSsh = (on: boolean) => `tailscale set --ssh=${on} --accept-risk=lose-ssh`;
  return {
    id: 'tailscale:ssh',
    after,
    probe: TAILSCALE_PROBE,
    parse: parseTailscale,
    // Not joined yet: `tailscale` joins with this very pref, so there is nothing of ours to say.
    diff: (s) =>
      !isJoined(s) || s.runSSH === ssh
        ? []
        : [
            {
              summary: `turn Tailscale SSH ${ssh ? 'on' : 'off'} (is ${s.runSSH ? 'on' : 'off'})`,
              kind: 'ssh-pref',
              expected: ssh,
              actual: s.runSSH,
            },
          ],
    apply: () => [{ script: setSsh(ssh) }],
    rollback: (s) => setSsh(s.runSSH),
  };
}
