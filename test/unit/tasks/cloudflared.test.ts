import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Secret } from '../../../src/secrets.js';
import {
  CF_UNIT_CONTENT,
  cloudflaredConfig,
  configScript,
  configTask,
  parseToken,
  readyTask,
  sha256,
  tokenTask,
} from '../../../src/tasks/cloudflared.js';

const TOKEN = 'eyJhIjoiYWJjIiwidCI6IjEyMyIsInMiOiJzZWNyZXQifQ==';
const secret = new Secret('env:CF_TUNNEL_TOKEN_TOUCAN', TOKEN);

describe('cloudflared config', () => {
  it('is YAML built from the routes, with the catch-all last', () => {
    const routes = [
      { hostname: 'a.example.com', service: 'http://localhost:3000' },
      { hostname: "b'#: x.example.com", service: 'http://localhost:8000' },
    ];
    expect(parse(cloudflaredConfig(routes))).toEqual({
      ingress: [...routes, { service: 'http_status:404' }],
    });
    expect(parse(cloudflaredConfig([]))).toEqual({ ingress: [{ service: 'http_status:404' }] });
  });
  it('validates the new file before it replaces the live one', () => {
    const s = configScript();
    expect(s.indexOf('ingress validate')).toBeLessThan(s.indexOf('mv -f "$tmp" /etc/cloudflared/config.yml'));
    expect(s).toContain('cloudflared tunnel --config "$tmp" ingress validate');
    const t = configTask([]);
    expect(t.diff(t.parse('MISSING\n')).map((c) => c.kind)).toEqual(['file-missing']);
  });
  it('the unit runs from the token file, with the config and a pinned metrics port', () => {
    expect(CF_UNIT_CONTENT).toContain(
      'ExecStart=/usr/bin/cloudflared --no-autoupdate tunnel --config /etc/cloudflared/config.yml --metrics 127.0.0.1:20241 run --token-file /etc/cloudflared/token',
    );
  });
});

describe('cloudflared token', () => {
  const t = tokenTask(secret);
  const probe = (meta: string, sha = '') => `meta=${meta}\nsha=${sha}\n`;
  it.each([
    ['fresh', 'meta=MISSING\n', ['file-missing']],
    ['converged', probe('600 root', sha256(TOKEN)), []],
    ['rotated token', probe('600 root', sha256('old')), ['file-content']],
    ['made readable', probe('644 root', sha256(TOKEN)), ['file-mode']],
  ])('%s', (_n, out, kinds) => {
    expect(t.diff(t.parse(out)).map((c) => c.kind)).toEqual(kinds);
  });
  it('without the token (check without secrets) compares only existence and mode', () => {
    const noToken = tokenTask(undefined);
    expect(noToken.diff(parseToken(probe('600 root', sha256('anything'))))).toEqual([]);
  });
  it('only a hash comes back, the token goes on stdin, never into a script or a change', () => {
    const s = t.parse('meta=MISSING\n');
    const changes = t.diff(s);
    const [step] = t.apply(s, changes);
    expect(step!.stdin).toBe(TOKEN);
    expect(step!.script).not.toContain(TOKEN);
    expect(step!.script).toContain('chmod 0600');
    expect(JSON.stringify(changes)).not.toContain(TOKEN);
    expect(t.probe).toContain('sha256sum');
  });
});

describe('cloudflared ready', () => {
  const t = readyTask();
  it.each([
    ['200', []],
    ['503', ['tunnel-not-ready']],
    ['000', ['tunnel-not-ready']],
    ['', ['tunnel-not-ready']],
  ])('/ready %j', (out, kinds) => {
    expect(t.diff(t.parse(out)).map((c) => c.kind)).toEqual(kinds);
  });
});
