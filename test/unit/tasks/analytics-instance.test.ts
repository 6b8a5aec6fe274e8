import { describe, expect, it } from 'vitest';
import { diffOrphans } from '../../../src/roles/analytics.js';
import { diffInstance, HBA_LINES, instanceSql } from '../../../src/tasks/analytics-instance.js';
import { parseInstance } from '../../../src/tasks/analytics-state.js';

/** The shared read's output of an instance set up for beanstock and docflow. */
const GOOD = [
  'role|analytics_fdw|true|false|default_transaction_read_only=on',
  'role|analytics_ro|true|false|default_transaction_read_only=on',
  'hbafile|/var/lib/postgresql/18/docker/pg_hba.conf',
  `hba|${HBA_LINES.join(';;')}`,
  'ext|postgres_fdw',
  'db|postgres|false|false',
  'db|template1|false|false',
  'db|analytics|true|false',
  'db|beanstock_20261206t012345z|false|false',
  'server|beanstock|host=127.0.0.1,port=5432,dbname=beanstock_20261206t012345z,updatable=false,truncatable=false|false',
  'server|docflow|host=127.0.0.1,port=5432,dbname=docflow,updatable=false,truncatable=false|false',
  ...['beanstock', 'docflow'].flatMap((s) => [
    `map|${s}|analytics_ro|analytics_fdw|ok`,
    `map|${s}|analytics|analytics_fdw|ok`,
  ]),
  'schema|beanstock|true',
  'schema|docflow|true',
  'defacl|beanstock|analytics_ro=r/analytics',
  'defacl|docflow|analytics_ro=r/analytics',
  'table|beanstock|beans|true',
  'login|analytics_ro|ok',
  'login|analytics_fdw|ok',
].join('\n');
const APPS = ['beanstock', 'docflow'];
const kinds = (out: string, apps = APPS) =>
  diffInstance(apps, parseInstance(out)).map((c) => `${c.kind}: ${c.summary}`);

describe('the analytics instance', () => {
  it('in sync: no change', () => {
    expect(kinds(GOOD)).toEqual([]);
  });

  it('down: nothing (the stack task reports it)', () => {
    expect(kinds('down')).toEqual([]);
  });

  it('a fresh instance: roles, pg_hba, the extension, grants, one server per app', () => {
    const fresh =
      'hbafile|/x/pg_hba.conf\nhba|local all all trust;;host all all 127.0.0.1/32 trust\ndb|postgres|-|-\ndb|analytics|-|-';
    expect(kinds(fresh).map((k) => k.split(':')[0])).toEqual([
      'analytics-role',
      'analytics-role',
      'analytics-hba',
      'analytics-grants',
      'analytics-grants',
      'analytics-app-missing',
      'analytics-app-missing',
    ]);
  });

  it('drift: a wrong password, a writable server, a lost grant, a role that may write', () => {
    const drifted = GOOD.replace('login|analytics_ro|ok', 'login|analytics_ro|bad')
      .replace('updatable=false,truncatable=false|false', 'updatable=true,truncatable=false|true')
      .replace('table|beanstock|beans|true', 'table|beanstock|beans|false')
      .replace('map|docflow|analytics_ro|analytics_fdw|ok', 'map|docflow|analytics_ro|analytics_fdw|bad')
      .replace('db|postgres|false|false', 'db|postgres|true|false');
    expect(kinds(drifted)).toEqual([
      "analytics-role: set analytics_ro's password from its file (the login with it fails)",
      'analytics-grants: analytics_ro may connect to analytics only, and create no temporary tables (database postgres)',
      "analytics-grants: set the foreign server beanstock's options updatable 'false'",
      "analytics-grants: revoke analytics_ro's USAGE on the foreign server beanstock",
      'analytics-grants: grant SELECT to analytics_ro on beanstock.beans',
      'analytics-grants: set the user mapping of analytics_ro on docflow (as analytics_fdw)',
    ]);
  });

  it('an app no longer included is an orphan, reported and kept', () => {
    expect(kinds(GOOD, ['beanstock'])).toEqual([]);
    expect(diffOrphans(['beanstock'], parseInstance(GOOD)).map((c) => c.summary)).toEqual([
      'docflow is in the analytics layer but not in analytics.apps: its data is kept (remove it: infra analytics drop docflow --yes)',
    ]);
  });

  it('the SQL names apps by their SQL name and takes the passwords from psql variables, never inline', () => {
    const sql = instanceSql(['my-app']);
    expect(sql).toContain('create schema if not exists my_app;');
    expect(sql).toContain(
      "create user mapping for analytics_ro server my_app options (user 'analytics_fdw', password :'fdw');",
    );
    expect(sql).toContain(":'ro'");
    expect(() => instanceSql(["x'; drop"])).toThrow();
  });
});
