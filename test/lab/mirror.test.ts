import { beforeAll, describe, expect, it } from 'vitest';
import type { LabHost, LabState } from '../../src/lab/index.js';
import { labEnsureImages } from '../../src/lab/index.js';
import { bringUpScratch, DOCKER_SCRATCH, LAB_TIMEOUT, ssh } from './helpers.js';

/**
 * A host's own Docker engine (Debian's docker.io) pulls `postgres:18` by its real name through
 * the lab registry mirror, and it is real PostgreSQL 18 with the official image's layout.
 */
describe('registry mirror and real PostgreSQL images', () => {
  let lab: LabState;
  let host: LabHost;
  const sh = (cmd: string) => ssh(lab, host.publicAddress, cmd);

  beforeAll(async () => {
    lab = await bringUpScratch();
    await labEnsureImages(['postgres:18'], (m) => process.stderr.write(`[lab] ${m}\n`));
    host = lab.hosts.find((h) => h.name === DOCKER_SCRATCH)!;
    const mirror = lab.upstream.registryMirror;
    const daemon = JSON.stringify({
      'registry-mirrors': [mirror],
      'insecure-registries': [new URL(mirror).host],
    });
    const r = await sh(`set -e
mkdir -p /etc/docker && echo '${daemon}' >/etc/docker/daemon.json
export DEBIAN_FRONTEND=noninteractive
command -v docker >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io docker-cli >/dev/null; }
systemctl reset-failed docker; systemctl restart docker && docker info --format '{{.Driver}}'`);
    expect(r.exitCode, r.stderr).toBe(0);
  }, LAB_TIMEOUT);

  it('pulls postgres:18 through the mirror and SELECT version() says 18', async () => {
    const pull = await sh(
      // The image is removed first, so the pull really goes through the mirror on every run.
      'docker rm -f db >/dev/null 2>&1; docker volume rm -f pgdata >/dev/null 2>&1; docker rmi -f postgres:18 >/dev/null 2>&1; docker pull -q postgres:18',
    );
    expect(pull.exitCode, pull.stderr).toBe(0);
    const run = await sh(
      'echo s3cret >/root/pgpw && docker run -d --name db -e POSTGRES_USER=app -e POSTGRES_DB=app ' +
        '-e POSTGRES_PASSWORD_FILE=/run/pw -v /root/pgpw:/run/pw:ro -v pgdata:/var/lib/postgresql postgres:18',
    );
    expect(run.exitCode, run.stderr).toBe(0);
    // pg_isready also answers during the init's temporary server (as upstream): wait for a real query.
    const v = await sh(
      "for i in $(seq 120); do docker exec db psql -U app -d app -tAc 'SELECT version()' 2>/dev/null | grep . && " +
        'docker logs db 2>&1 | grep -q "init process complete" && exit 0; sleep 0.5; done; docker logs db; exit 1',
    );
    expect(v.exitCode, v.stdout).toBe(0);
    expect(v.stdout).toMatch(/PostgreSQL 18\./);
    const layout = await sh(
      "docker exec db sh -c 'echo $PGDATA; cat $PGDATA/PG_VERSION; pg_dump --version; pg_isready'",
    );
    expect(layout.stdout).toContain('/var/lib/postgresql/18/docker');
    expect(layout.stdout).toMatch(/pg_dump \(PostgreSQL\) 18/);
    expect(layout.stdout).toContain('accepting connections');
  }, 300_000);

  it('initialises only on first start', async () => {
    const r = await sh(
      'docker restart db >/dev/null && sleep 2 && docker logs db 2>&1 | grep -c "init process complete"; ' +
        'docker logs db 2>&1 | grep -c "Skipping initialization"',
    );
    expect(r.stdout.split('\n')).toEqual(['1', '1']);
  }, 120_000);
});
