import type { Change, Task } from '../engine/task.js';
import { shq } from '../quote.js';
import type { Secret } from '../secrets.js';
import {
  CF_DIR,
  credentialsPath,
  parseToken,
  secretFileProbe,
  sha256,
  type TokenState,
} from './cloudflared.js';

/**
 * A locally managed tunnel's credentials file (`cloudflared tunnel create` writes
 * <UUID>.json; create-local-tunnel.mdx): root-only, content compared by hash, sent on stdin.
 */
export function credentialsTask(
  secret: Secret | undefined,
  id: string,
  after: string[] = [],
): Task<TokenState> {
  const file = credentialsPath(id);
  return {
    id: `cloudflared:credentials`,
    after,
    probe: secretFileProbe(file),
    parse: parseToken,
    diff: (s): Change[] => {
      if (!s.exists) return [{ summary: `create ${file} (mode 600, content hidden)`, kind: 'file-missing' }];
      const changes: Change[] = [];
      if (secret && s.sha256 !== sha256(secret.reveal()))
        changes.push({
          summary: `update ${file} (content hidden: the tunnel's credentials)`,
          kind: 'file-content',
        });
      if (s.mode !== '600' || s.owner !== 'root')
        changes.push({
          summary: `chmod 600, chown root ${file} (was ${s.mode} ${s.owner})`,
          kind: 'file-mode',
          expected: '600 root',
          actual: `${s.mode} ${s.owner}`,
        });
      return changes;
    },
    apply: () => {
      if (!secret) throw new Error('the tunnel credentials are not set (hosts.<host>.tunnel.credentials)');
      return [
        {
          script: [
            `mkdir -p --mode=0755 ${shq(CF_DIR)}`,
            'umask 077',
            `tmp=$(mktemp ${shq(`${CF_DIR}/.infra.XXXXXX`)}) || exit 1`,
            'cat > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp"',
            `mv -f "$tmp" ${shq(file)}`,
            'if systemctl is-active -q cloudflared.service; then systemctl restart cloudflared.service; fi',
          ].join(' && '),
          stdin: secret.reveal(),
        },
      ];
    },
  };
}
