import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { healthProbe, parseHealth } from '../../../src/tasks/stack-health.js';

// Real sh, real curl, a real HTTP server on loopback: one curl asks every service of the stack,
// and each answer must land on the service it belongs to.
describe('stack health probe', () => {
  it('asks every running service with one curl and maps each answer to its service', async () => {
    const server = http.createServer((req, res) => {
      res.statusCode = req.url === '/ok' ? 200 : 503;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const addresses = ['web', 'api', 'gone'].map((s) => `shop\t${s}\tshop_default=127.0.0.1`).join('\n');
    const probe = healthProbe('shop', [
      { service: 'web', port, path: '/ok' },
      { service: 'idle', port, path: '/' }, // no running container: no address
      { service: 'api', port, path: '/bad' },
      { service: 'gone', port: 1, path: '/' }, // nothing listens
    ]);
    const script = `infra_containers=x\ninfra_addresses='${addresses}'\n${probe}`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', script], (e, stdout) => (e ? reject(e) : resolve(stdout))),
    );
    server.close();
    expect(parseHealth(out)).toEqual({ web: '200', idle: 'none', api: '503', gone: '000' });
  });
});
