import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { controlFollowUp } from '../../../src/commands/converge.js';
import type { Inventory } from '../../../src/inventory/types.js';
import { Secret } from '../../../src/secrets.js';
import {
  authorizedLine,
  type DeployUserState,
  deployUserTask,
  diffDeployUser,
  parseDeployUser,
} from '../../../src/tasks/deploy-user.js';
import { answer, diffApiKey, dokployApiKeyTask, parseApiKey } from '../../../src/tasks/dokploy-api.js';
import { remoteTasks } from '../../../src/tasks/dokploy-remote.js';
import {
  type DesiredServer,
  type DokployServer,
  parseRemote,
  type RemoteState,
} from '../../../src/tasks/dokploy-remote-state.js';
import {
  diffServers,
  orphanServers,
  serversScript,
  unreachable,
} from '../../../src/tasks/dokploy-servers.js';
import { diffSshKey } from '../../../src/tasks/dokploy-ssh-key.js';

const DIR = '/srv/infra/stacks/dokploy';
const HB: DesiredServer = { name: 'hornbill', ipAddress: '100.77.0.11', port: 22, username: 'dokploy' };
const registered = (over: Partial<DokployServer> = {}): DokployServer => ({
  serverId: 'srv1',
  name: 'hornbill',
  description: 'managed by infra (inventory host hornbill)',
  ipAddress: '100.77.0.11',
  port: 22,
  username: 'dokploy',
  sshKeyId: 'key1',
  serverType: 'deploy',
  enableDockerCleanup: false,
  ...over,
});
const state = (over: Partial<RemoteState> = {}): RemoteState => ({
  jq: true,
  code: '200',
  key: { sshKeyId: 'key1', publicKey: 'ssh-ed25519 AAAAC3 dokploy' },
  servers: [registered()],
  reach: { hornbill: { ok: true, message: 'docker found, docker group yes' } },
  ...over,
});

describe('Dokploy servers: the pure diff (routers/server.ts apiCreateServer fields)', () => {
  it.each<[string, RemoteState, string[]]>([
    ['in sync', state(), []],
    ['not registered', state({ servers: [] }), ['server-missing']],
    ['address changed', state({ servers: [registered({ ipAddress: '100.77.0.99' })] }), ['server-changed']],
    ['user changed', state({ servers: [registered({ username: 'root' })] }), ['server-changed']],
    ['port changed', state({ servers: [registered({ port: 2222 })] }), ['server-changed']],
    ['another key', state({ servers: [registered({ sshKeyId: 'other' })] }), ['server-changed']],
    ['no key at all', state({ servers: [registered({ sshKeyId: null })] }), ['server-changed']],
    ['a build server', state({ servers: [registered({ serverType: 'build' })] }), ['server-changed']],
    ["infra's key missing", state({ key: undefined }), ['ssh-key-missing']],
    ['API key refused', state({ code: '401' }), ['dokploy-api']],
    ['no jq', state({ jq: false }), ['package-missing']],
  ])('%s', (_name, st, kinds) => {
    expect(diffServers(st, [HB]).map((c) => c.kind)).toEqual(kinds);
  });

  it('names what differs, and what it is now', () => {
    const [c] = diffServers(state({ servers: [registered({ username: 'root', ipAddress: '10.0.0.5' })] }), [
      HB,
    ]);
    expect(c!.summary).toBe(
      'update Dokploy server hornbill: ipAddress 100.77.0.11 (is 10.0.0.5), username dokploy (is root)',
    );
  });

  it("the operator's cleanup choice survives an update; a new server gets Dokploy's default", () => {
    const upd = serversScript(DIR, state(), diffServers(state({ servers: [registered({ port: 2 })] }), [HB]));
    expect(upd).toContain('/api/server.update');
    expect(upd).toContain('"serverId":"srv1"');
    expect(upd).toContain('"enableDockerCleanup":false');
    const made = serversScript(DIR, state({ servers: [] }), diffServers(state({ servers: [] }), [HB]));
    expect(made).toContain('/api/server.create');
    expect(made).toContain('"enableDockerCleanup":true');
    expect(made).toContain('"description":"managed by infra (inventory host hornbill)"');
    expect(made).toContain('"serverType":"deploy"');
  });

  it('orphans: only servers infra registered, whose host left the inventory', () => {
    const st = state({
      servers: [
        registered(),
        registered({ name: 'oldhost', serverId: 's2' }),
        registered({ name: 'mine', description: 'added by hand' }),
        registered({ name: 'nodesc', description: null }),
      ],
    });
    expect(orphanServers(st, ['hornbill'])).toEqual(['oldhost']);
    const orphans = remoteTasks({ dir: DIR, want: [HB], appsHosts: ['hornbill'], after: [] })[2]!;
    expect(orphans.wait?.(st)?.on).toBe('the operator');
    expect(orphans.apply(st, orphans.diff(st))).toEqual([]); // never deregistered
    expect(orphans.wait?.(state())).toBeUndefined();
  });

  it("a failed login (server.validate) waits for the apps host's own run", () => {
    const st = state({
      reach: { hornbill: { ok: false, message: 'Authentication failed: Invalid SSH private key' } },
    });
    expect(unreachable(st, [HB]).map((c) => c.kind)).toEqual(['server-unreachable']);
    const reach = remoteTasks({ dir: DIR, want: [HB], appsHosts: ['hornbill'], after: [] })[3]!;
    expect(reach.wait?.(st)).toEqual({ on: 'hornbill', run: 'infra apply hornbill' });
    expect(unreachable(state(), [HB])).toEqual([]);
  });

  it('a network failure to the apps host is not the control host drift (that host is reported unreachable)', () => {
    const st = state({
      reach: { hornbill: { ok: false, message: 'SSH connection error: connect timed out' } },
    });
    expect(unreachable(st, [HB])).toEqual([]);
    const reach = remoteTasks({ dir: DIR, want: [HB], appsHosts: ['hornbill'], after: [] })[3]!;
    expect(reach.wait?.(st)).toBeUndefined();
  });

  it("infra's SSH key: created when missing; its public key is learned", () => {
    expect(diffSshKey(state({ key: undefined })).map((c) => c.kind)).toEqual(['ssh-key-missing']);
    expect(diffSshKey(state())).toEqual([]);
    const key = remoteTasks({ dir: DIR, want: [], appsHosts: [], after: [] })[0]!;
    expect(key.learn?.(state())).toEqual({ dokployPublicKey: 'ssh-ed25519 AAAAC3 dokploy' });
  });
});

describe('Dokploy servers: reading the probe', () => {
  const out = [
    '@@keys',
    '[{"sshKeyId":"key1","publicKey":"ssh-ed25519 AAAAC3 dokploy"}]',
    '200',
    '@@servers',
    JSON.stringify([registered()]),
    '200',
    '@@reach-hornbill',
    JSON.stringify([JSON.stringify({ docker: { enabled: true }, dockerGroupMember: true }), '200']),
  ].join('\n');

  it('keys, servers and the login check', () => {
    expect(parseRemote(out)).toEqual(state());
  });

  it("Dokploy's refusal of a login is kept as its message", () => {
    const bad = out.replace(
      /@@reach-hornbill\n.*/,
      `@@reach-hornbill\n${JSON.stringify([JSON.stringify({ message: 'SSH connection error: timeout', code: 'BAD_REQUEST' }), '400'])}`,
    );
    expect(parseRemote(bad).reach.hornbill).toEqual({ ok: false, message: 'SSH connection error: timeout' });
  });

  it('not in the docker group is a failed check too (server-validate.ts dockerGroupMember)', () => {
    const st = parseRemote(out.replace('\\"dockerGroupMember\\":true', '\\"dockerGroupMember\\":false'));
    expect(st.reach.hornbill?.ok).toBe(false);
  });

  it('a 401 to the key: the code, no servers', () => {
    const st = parseRemote(
      '@@keys\n{"message":"Unauthorized"}\n401\n@@servers\n{"message":"Unauthorized"}\n401',
    );
    expect(st).toMatchObject({ code: '401', servers: [], key: undefined });
  });

  it('no jq on the host', () => {
    expect(parseRemote('@@nojq\n').jq).toBe(false);
  });

  it('answer(): the last line is the HTTP code', () => {
    expect(answer('{"a":1}\n200')).toEqual({ code: '200', body: '{"a":1}' });
    expect(answer('')).toEqual({ code: '000', body: '' });
  });

  it('the probe only reads: GET calls, no write endpoint', () => {
    const probe = remoteTasks({ dir: DIR, want: [HB], appsHosts: ['hornbill'], after: [] })[0]!.probe;
    expect(probe).toContain('dk_api GET /api/sshKey.all');
    expect(probe).toContain('dk_api GET /api/server.all');
    expect(probe).toContain('dk_api GET "/api/server.validate?serverId=$id"');
    expect(probe).not.toMatch(/dk_api POST/);
    // The key reaches curl in a header file, never in argv.
    expect(probe).toContain('-H @"$h"');
    expect(probe).not.toMatch(/x-api-key: \$\(/);
  });
});

describe("Dokploy's API key", () => {
  it.each<[string, string, string[]]>([
    ['accepted', '@@file\nyes\n@@orgs\n["org1"]\n200', []],
    ['no file yet', '@@file\nno\n@@orgs\n\n401', ['api-key-missing']],
    [
      'refused (deleted in Dokploy)',
      '@@file\nyes\n@@orgs\n{"message":"Unauthorized"}\n401',
      ['api-key-refused'],
    ],
    ['Dokploy down', '@@file\nyes\n@@orgs\n\n000', ['dokploy-down']],
  ])('%s', (_n, out, kinds) => {
    expect(diffApiKey(parseApiKey(out), 'ops@example.com').map((c) => c.kind)).toEqual(kinds);
  });

  it('a key the inventory gives: written when missing or different (by hash), reported when refused', () => {
    const given = { ref: 'env:DOKPLOY_API_KEY', value: new Secret('env:DOKPLOY_API_KEY', 'k-123') };
    const sha = createHash('sha256').update('k-123').digest('hex');
    const kinds = (out: string, g: typeof given | { ref: string }) =>
      diffApiKey(parseApiKey(out), 'ops@example.com', g).map((c) => c.kind);
    expect(kinds('@@file\nno\n@@sha\n\n@@orgs\n\n401', given)).toEqual(['file-missing']);
    expect(kinds('@@file\nyes\n@@sha\nabc\n@@orgs\n["o"]\n200', given)).toEqual(['file-content']);
    expect(kinds(`@@file\nyes\n@@sha\n${sha}\n@@orgs\n["o"]\n200`, given)).toEqual([]);
    expect(kinds(`@@file\nyes\n@@sha\n${sha}\n@@orgs\n{}\n401`, given)).toEqual(['api-key-refused']);
    // check without the secret: the content is not compared
    expect(kinds('@@file\nyes\n@@sha\nabc\n@@orgs\n["o"]\n200', { ref: given.ref })).toEqual([]);
    const t = dokployApiKeyTask({ dir: DIR, ownerEmail: 'ops@example.com', ownerFile: 'pw', given });
    const [step] = t.apply(parseApiKey('@@file\nno\n@@orgs\n\n401'), []);
    expect(step!.stdin).toBe('k-123');
    expect(step!.script).not.toContain('k-123');
    expect(step!.script).not.toContain('createApiKey');
  });

  it("the organisation is read from organization.all (sshKey.create's organizationId)", () => {
    expect(parseApiKey('@@file\nyes\n@@orgs\n["org1"]\n200').organizationId).toBe('org1');
  });
});

describe('the deploy user on an apps host', () => {
  const LINE = authorizedLine('ssh-ed25519 AAAAC3 dokploy\n', '100.77.0.10');
  const ok: DeployUserState = {
    exists: true,
    password: 'L',
    groups: ['dokploy', 'docker'],
    shell: '/bin/bash',
    home: '/home/dokploy',
    keys: LINE,
    keysMeta: '600 dokploy',
    sshMeta: '700 dokploy',
  };

  it('the key only from the control host tailnet address', () => {
    expect(LINE).toBe('from="100.77.0.10" ssh-ed25519 AAAAC3 dokploy\n');
  });

  it.each<[string, Partial<DeployUserState>, string[]]>([
    ['in sync', {}, []],
    ['missing', { exists: false }, ['user-missing']],
    ['a usable password', { password: 'P' }, ['user-password']],
    ['no password but not locked', { password: 'NP' }, ['user-password']],
    ['not in docker', { groups: ['dokploy'] }, ['user-groups']],
    ['another key', { keys: 'ssh-ed25519 OTHER x\n' }, ['file-content']],
    ['the key without from=', { keys: 'ssh-ed25519 AAAAC3 dokploy\n' }, ['file-content']],
    ['a second key added', { keys: `${LINE}ssh-ed25519 EXTRA x\n` }, ['file-content']],
    ['keys file world-readable', { keysMeta: '644 dokploy' }, ['file-mode']],
  ])('%s', (_n, over, kinds) => {
    expect(diffDeployUser({ ...ok, ...over }, LINE).map((c) => c.kind)).toEqual(kinds);
  });

  it('waits for the control host while its key is unknown', () => {
    const t = deployUserTask({ control: 'toucan', publicKey: undefined, from: '100.77.0.10' });
    expect(t.wait?.(ok)).toEqual({ on: 'toucan', run: 'infra apply toucan' });
    expect(
      deployUserTask({ control: 'toucan', publicKey: 'ssh-ed25519 A x', from: '100.77.0.10' }).wait?.(ok),
    ).toBeUndefined();
  });

  it('reads the probe', () => {
    const keys = Buffer.from(LINE).toString('base64');
    const st = parseDeployUser(
      `exists=yes\nshell=/bin/bash\nhome=/home/dokploy\npassword=L\ngroups=dokploy,docker\nsshmeta=700 dokploy\nkeysmeta=600 dokploy\nkeys=${keys}\n`,
    );
    expect(st).toEqual(ok);
    expect(parseDeployUser('exists=no\n').exists).toBe(false);
  });
});

describe("an apps host's run ends on the control host (controlFollowUp)", () => {
  const inv = (learned: object): Inventory => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'infra-followup-'));
    writeFileSync(path.join(stateDir, 'hosts.json'), JSON.stringify(learned));
    return {
      stateDir,
      hosts: [
        { name: 'toucan', role: 'control' },
        { name: 'hornbill', role: 'apps' },
      ],
    } as unknown as Inventory;
  };
  const known = { toucan: { tailnetAddress: '100.77.0.10', dokployPublicKey: 'ssh-ed25519 A x' } };
  it.each<[string, object, string[], string | undefined]>([
    ['apps host alone, Dokploy known', known, ['hornbill'], 'toucan'],
    ['the control host is in the run', known, ['hornbill', 'toucan'], undefined],
    ['control host alone', known, ['toucan'], undefined],
    ['Dokploy never ran', { toucan: { tailnetAddress: '100.77.0.10' } }, ['hornbill'], undefined],
    [
      'only the backup pull key known',
      { toucan: { backupPullKey: 'ssh-ed25519 B y' } },
      ['hornbill'],
      'toucan',
    ],
  ])('%s', (_n, learned, hosts, want) => {
    expect(controlFollowUp(inv(learned), hosts)).toBe(want);
  });
});
