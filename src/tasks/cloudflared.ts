import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { Change, Task } from '../engine/task.js';
import type { TunnelRoute } from '../inventory/schema.js';
import { shq } from '../quote.js';
import type { Secret } from '../secrets.js';
import { type DesiredFile, diffFile, fileTask } from './file.js';
import { atomicWrite, type FileState, fileProbe, parseFileProbe } from './lib/file.js';
import { keyValues } from './lib/parse.js';

export const CF_DIR = '/etc/cloudflared';
export const CF_TOKEN = `${CF_DIR}/token`;
export const CF_CONFIG = `${CF_DIR}/config.yml`;
export const CF_UNIT = '/etc/systemd/system/cloudflared.service';
export const CF_METRICS = '127.0.0.1:20241';
const RESTART_IF_RUNNING =
  'if systemctl is-active -q cloudflared.service; then systemctl restart cloudflared.service; fi';

/** Rendered as a structure (never by concatenation), with the mandatory catch-all rule last. */
export function cloudflaredConfig(routes: readonly TunnelRoute[], local?: LocalTunnel): string {
  return stringify({
    // A locally managed tunnel names itself and its credentials file (configuration-file.mdx).
    ...(local ? { tunnel: local.id, 'credentials-file': credentialsPath(local.id) } : {}),
    ingress: [
      ...routes.map((r) => ({ hostname: r.hostname, service: r.service })),
      { service: 'http_status:404' },
    ],
  });
}

/**
 * Our own unit rather than `cloudflared service install`, which refuses to run when the unit
 * exists (so a re-run could never converge) and adds an auto-update timer. Same ExecStart shape
 * as upstream's 2026.7.2+ unit (token file, not argv), plus the config and a pinned metrics port
 * so the /ready check knows where to look.
 */
export const CF_UNIT_CONTENT = unitContent(true);

/**
 * Without the config file for a tunnel managed through the API: its ingress comes from the
 * edge (cloudflared orchestration/orchestrator.go replaces local ingress for a remote tunnel).
 */
export function unitContent(withConfig: boolean, withToken = true): string {
  const config = withConfig ? ` --config ${CF_CONFIG}` : '';
  const token = withToken ? ` --token-file ${CF_TOKEN}` : '';
  return `[Unit]
Description=cloudflared (Cloudflare Tunnel), managed by infra
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/usr/bin/cloudflared --no-autoupdate tunnel${config} --metrics ${CF_METRICS} run${token}
Restart=on-failure
RestartSec=5s

[Install]
WantedBy=multi-user.target
`;
}

/** A locally managed tunnel (`cloudflared tunnel create`): its UUID; its credentials are a secret. */
export interface LocalTunnel {
  id: string;
}
export const credentialsPath = (id: string) => `${CF_DIR}/${id}.json`;

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export type TokenState = { exists: false } | { exists: true; mode: string; owner: string; sha256: string };

export const secretFileProbe = (file: string) =>
  `f=${shq(file)}\nif [ -f "$f" ]; then echo "meta=$(stat -c '%a %U' "$f")"; echo "sha=$(sha256sum < "$f" | cut -d' ' -f1)"; else echo meta=MISSING; fi`;
export const TOKEN_PROBE = secretFileProbe(CF_TOKEN);

export function parseToken(stdout: string): TokenState {
  const kv = keyValues(stdout);
  const meta = kv.get('meta') ?? 'MISSING';
  if (meta === 'MISSING') return { exists: false };
  const [mode = '', owner = ''] = meta.split(' ');
  return { exists: true, mode, owner, sha256: kv.get('sha') ?? '' };
}

/** Only a hash comes back from the host. Without the token (check without secrets) content is not compared. */
export function diffToken(token: Secret | undefined, s: TokenState): Change[] {
  if (!s.exists) return [{ summary: `create ${CF_TOKEN} (mode 600, content hidden)`, kind: 'file-missing' }];
  const changes: Change[] = [];
  if (token && s.sha256 !== sha256(token.reveal()))
    changes.push({
      summary: `update ${CF_TOKEN} (content hidden: it holds the tunnel token)`,
      kind: 'file-content',
    });
  if (s.mode !== '600' || s.owner !== 'root')
    changes.push({
      summary: `chmod 600, chown root ${CF_TOKEN} (was ${s.mode} ${s.owner})`,
      kind: 'file-mode',
      expected: '600 root',
      actual: `${s.mode} ${s.owner}`,
    });
  return changes;
}

/** The token task's id: the Cloudflare side publishes nothing before it converged (session.ts). */
export const TOKEN_TASK = 'cloudflared:token';

export function tokenTask(token: Secret | undefined, after: string[] = []): Task<TokenState> {
  return {
    id: TOKEN_TASK,
    after,
    probe: TOKEN_PROBE,
    parse: parseToken,
    diff: (s) => diffToken(token, s),
    apply: () => {
      if (!token)
        throw new Error('the tunnel token is not set (hosts.<host>.tunnel.token, or fetched by tunnel.name)');
      return [
        {
          // The token arrives on stdin, written without a newline so its hash is the token's.
          script: [
            `mkdir -p --mode=0755 ${shq(CF_DIR)}`,
            'umask 077',
            atomicWrite({ path: CF_TOKEN, mode: '0600', owner: 'root:root' }),
            RESTART_IF_RUNNING,
          ].join('\n'),
          stdin: token.reveal(),
        },
      ];
    },
  };
}

/** Written beside the live file and checked with `ingress validate` before it replaces it. */
export function configScript(): string {
  return [
    `mkdir -p --mode=0755 ${shq(CF_DIR)}`,
    atomicWrite({
      path: CF_CONFIG,
      mode: '644',
      validate: {
        command: 'cloudflared tunnel --config "$tmp" ingress validate',
        invalid: `cloudflared rejected the ingress rules, ${CF_CONFIG} is unchanged`,
      },
    }),
    RESTART_IF_RUNNING,
  ].join('\n');
}

export function configTask(
  routes: readonly TunnelRoute[],
  after: string[] = [],
  local?: LocalTunnel,
): Task<FileState> {
  const want: DesiredFile = { path: CF_CONFIG, content: cloudflaredConfig(routes, local), mode: '644' };
  return {
    id: `file:${CF_CONFIG}`,
    after,
    probe: fileProbe(CF_CONFIG),
    parse: parseFileProbe,
    diff: (s) => diffFile(want, s),
    apply: () => [{ script: configScript(), stdin: want.content }],
  };
}

export function unitTask(after: string[] = [], withConfig = true, withToken = true): Task<FileState> {
  return fileTask(
    {
      path: CF_UNIT,
      content: unitContent(withConfig, withToken),
      mode: '644',
      onChange: `systemctl daemon-reload && ${RESTART_IF_RUNNING}`,
    },
    after,
  );
}

/** HTTP status of the metrics server's /ready ("000" when nothing answers). */
export const READY_PROBE = `curl -s -o /dev/null -m 3 -w '%{http_code}' http://${CF_METRICS}/ready || true`;

export function readyTask(after: string[] = []): Task<string> {
  return {
    id: 'cloudflared:ready',
    after,
    probe: READY_PROBE,
    parse: (out) => out.trim().slice(-3) || '000',
    diff: (code) =>
      code === '200'
        ? []
        : [
            {
              summary: `tunnel not ready: ${CF_METRICS}/ready answers ${code}, want 200`,
              kind: 'tunnel-not-ready',
              expected: '200',
              actual: code,
            },
          ],
    // A connector takes a few seconds to register; restart once if it never does, then wait again.
    apply: () => [
      {
        script: [
          "ready() { [ \"$(curl -s -o /dev/null -m 3 -w '%{http_code}' " +
            `http://${CF_METRICS}/ready)" = 200 ]; }`,
          'i=0; while [ $i -lt 15 ]; do ready && exit 0; sleep 1; i=$((i+1)); done',
          'systemctl restart cloudflared.service',
          'i=0; while [ $i -lt 30 ]; do ready && exit 0; sleep 1; i=$((i+1)); done',
          'echo "cloudflared /ready never answered 200; last log lines:" >&2',
          'journalctl -u cloudflared.service -n 15 --no-pager >&2',
          'exit 1',
        ].join('\n'),
        timeoutMs: 120_000,
      },
    ],
  };
}
