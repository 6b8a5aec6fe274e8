import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cfApi, viaEdge as edgeRequest } from '../../support/cloudflare.js';

// The lab's tunnel path on loopback: the API stand-in with its edge (lab/cloudflare/cfapi.py,
// edge.py) and the cloudflared stand-in (lab/standins/cloudflared) connecting to it. A remotely
// managed tunnel serves the API's ingress, not its config.yml; a wrong secret is refused.
const ACCOUNT = 'cd'.repeat(16);
const TOKEN = 'lab-api-token-edge-0123456789abcdef';
const PORT = 20000 + Math.floor(Math.random() * 20000);
const API = `http://127.0.0.1:${PORT}/client/v4`;
const EDGE_PORT = PORT + 1;
const CLOUDFLARED = path.resolve('lab/standins/cloudflared/usr/bin/cloudflared');
const procs: ChildProcess[] = [];
const servers: Server[] = [];
let dir: string;
let logs = '';

const api = cfApi(API, () => TOKEN);
const viaEdge = (host: string, p = '/') => edgeRequest({ host: '127.0.0.1', port: EDGE_PORT }, host, p);
const origin = async (name: string) => {
  const s = createServer((req, res) => res.end(`${name} ${req.headers.host} ${req.url}`));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};
const until = async <T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 8000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined as T);
    if ((v !== undefined && ok(v)) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
};
const ready = (port: number) =>
  fetch(`http://127.0.0.1:${port}/ready`).then(async (r) => ({ status: r.status, doc: await r.json() }));
function cloudflared(args: string[]) {
  const p = spawn('python3', [CLOUDFLARED, ...args], {
    env: { ...process.env, CLOUDFLARED_LAB_EDGE_FILE: path.join(dir, 'edge') },
  });
  p.stdout?.on('data', (d) => (logs += d));
  p.stderr?.on('data', (d) => (logs += d));
  procs.push(p);
  return p;
}
const tunnel = async (name: string) => {
  const t = (await api('POST', `/accounts/${ACCOUNT}/cfd_tunnel`, { name, config_src: 'cloudflare' })) as {
    id: string;
  };
  const token = (await api('GET', `/accounts/${ACCOUNT}/cfd_tunnel/${t.id}/token`)) as string;
  return { id: t.id, token };
};
let zone = '';
const record = (name: string, tid: string) =>
  api('POST', `/zones/${zone}/dns_records`, {
    type: 'CNAME',
    name,
    content: `${tid}.cfargotunnel.com`,
    proxied: true,
  });

let remote = '';
let local = '';
let t1 = { id: '', token: '' };

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'infra-cfedge-'));
  writeFileSync(
    path.join(dir, 'seed.json'),
    JSON.stringify({
      tokens: { [TOKEN]: { account: ACCOUNT, permissions: ['zones', 'tunnels', 'dns', 'access'] } },
      accounts: { [ACCOUNT]: { zones: ['sgl.as'] } },
    }),
  );
  writeFileSync(path.join(dir, 'edge'), `http://127.0.0.1:${PORT}`);
  const p = spawn('python3', [path.resolve('lab/cloudflare/cfapi.py'), dir, String(PORT), String(EDGE_PORT)]);
  procs.push(p);
  await until(
    () => fetch(`http://127.0.0.1:${PORT}/lab/calls`),
    (r) => r.ok,
  );
  zone = ((await api('GET', '/zones?name=sgl.as')) as { id: string }[])[0]!.id;
  [remote, local] = [await origin('remote'), await origin('local')];
  t1 = await tunnel('toucan');
  await api('PUT', `/accounts/${ACCOUNT}/cfd_tunnel/${t1.id}/configurations`, {
    config: { ingress: [{ hostname: 'app.sgl.as', service: remote }, { service: 'http_status:404' }] },
  });
  await record('app.sgl.as', t1.id);
  // The host's own file routes the same hostname elsewhere: cloudflared must not use it.
  writeFileSync(
    path.join(dir, 'config.yml'),
    `ingress:\n  - hostname: app.sgl.as\n    service: ${local}\n  - service: http_status:404\n`,
  );
  cloudflared([
    '--config',
    path.join(dir, 'config.yml'),
    '--metrics',
    `127.0.0.1:${PORT + 2}`,
    'tunnel',
    'run',
    '--token',
    t1.token,
  ]);
}, 20_000);
afterAll(() => {
  for (const p of procs) p.kill();
  for (const s of servers) s.close();
});

describe('the lab edge and the cloudflared stand-in', () => {
  it('a token-run tunnel connects, serves the API configuration and ignores its local ingress', async () => {
    const r = await until(
      () => ready(PORT + 2),
      (x) => x.status === 200,
    );
    expect(r).toMatchObject({ status: 200, doc: { readyConnections: 4 } });
    const got = await viaEdge('app.sgl.as', '/_health/');
    expect(got).toEqual({
      status: 200,
      body: 'remote app.sgl.as /_health/',
      edge: `tunnel ${t1.id}`,
    });
    expect(logs).toMatch(/Updated to new configuration config=.* version=1/);
  });

  it('a hostname the ingress does not list gets the catch-all 404 through the tunnel; no record: no tunnel', async () => {
    await record('unlisted.sgl.as', t1.id);
    expect(await viaEdge('unlisted.sgl.as')).toMatchObject({ status: 404, edge: `tunnel ${t1.id}` });
    expect(await viaEdge('nothing.sgl.as')).toMatchObject({ status: 404, edge: 'no-route' });
  });

  it('a new configuration version reaches the running connector at once', async () => {
    await api('PUT', `/accounts/${ACCOUNT}/cfd_tunnel/${t1.id}/configurations`, {
      config: { ingress: [{ hostname: 'app.sgl.as', service: local }, { service: 'http_status:404' }] },
    });
    const got = await until(
      () => viaEdge('app.sgl.as'),
      (x) => x.body.startsWith('local'),
      3000,
    );
    expect(got.body).toBe('local app.sgl.as /');
    expect(logs).toMatch(/version=2/);
  });

  it('a tunnel without a connector answers 530 (error 1033); a wrong secret is refused and never ready', async () => {
    const t2 = await tunnel('kiwi');
    await record('kiwi.sgl.as', t2.id);
    expect(await viaEdge('kiwi.sgl.as')).toMatchObject({ status: 530, body: 'error code: 1033\n' });
    const forged = JSON.parse(Buffer.from(t2.token, 'base64').toString()) as Record<string, string>;
    const bad = Buffer.from(
      JSON.stringify({ ...forged, s: Buffer.alloc(32, 7).toString('base64') }),
    ).toString('base64');
    cloudflared(['--metrics', `127.0.0.1:${PORT + 3}`, 'tunnel', 'run', '--token', bad]);
    await until(
      async () => logs,
      (l) => l.includes('Unauthorized: Invalid tunnel secret'),
    );
    expect(logs).toContain(
      'Register tunnel error from server side error="Unauthorized: Invalid tunnel secret"',
    );
    expect(await ready(PORT + 3)).toMatchObject({ status: 503, doc: { readyConnections: 0 } });
    expect(await viaEdge('kiwi.sgl.as')).toMatchObject({ status: 530 });
  });
});
