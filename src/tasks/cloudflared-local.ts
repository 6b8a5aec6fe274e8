import type { Task } from '../engine/task.js';
import type { Secret } from '../secrets.js';
import {
  credentialsPath,
  diffSecretFile,
  parseToken,
  secretFileProbe,
  secretFileScript,
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
    diff: (s) => diffSecretFile(file, secret, s, "the tunnel's credentials"),
    apply: () => {
      if (!secret) throw new Error('the tunnel credentials are not set (hosts.<host>.tunnel.credentials)');
      return [{ script: secretFileScript(file), stdin: secret.reveal() }];
    },
  };
}
