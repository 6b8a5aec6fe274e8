import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The Metabase stand-in's pure rules (lab/images/stacks/standin_metabase.py), run in python3 as
 * the image runs them, without a database: what Metabase refuses as a setup password
 * (util/password.clj), the setup schema's errors (setup/api.clj), the mask on answers and on PUT
 * (warehouses/api.clj upsert-sensitive-fields), details sealed at rest, the *_FILE convention
 * (bin/docker/run_metabase.sh) and the refusal to start without MB_DB_TYPE=postgres.
 */
const DIR = join(__dirname, '../../../lab/images/stacks');

function py(code: string, env: Record<string, string> = {}): { out: string; code: number } {
  try {
    const out = execFileSync(
      'python3',
      [
        '-c',
        `import sys, json; sys.path.insert(0, ${JSON.stringify(DIR)})\nimport standin_metabase as m\n${code}`,
      ],
      {
        env: { PATH: process.env.PATH ?? '', STANDIN: 'metabase', ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return { out: out.trim(), code: 0 };
  } catch (e) {
    const err = e as { status: number; stdout: string };
    return { out: String(err.stdout).trim(), code: err.status };
  }
}

describe('Metabase stand-in rules', () => {
  it('refuses short, digit-less and common passwords; accepts what infra generates', () => {
    const r = py(
      `print(json.dumps([m.password_problem(p) for p in ["abc1", "abcdefgh", "Password1", "metabase1", "aB3dE6gH9jK2mN5pQ8rS1tU4wX7yZ0"]]))`,
    );
    expect(JSON.parse(r.out)).toEqual([
      'password is too common.',
      'password is too common.',
      'password is too common.',
      'password is too common.',
      null,
    ]);
  });

  it('setup: a wrong token, a bad e-mail and a blank site name are all named at once', () => {
    const r = py(
      `print(json.dumps(m.setup_errors({"token": "nope", "user": {"email": "x", "password": "abc"}, "prefs": {}}, "t0k")))
print(json.dumps(m.setup_errors({"token": "t0k", "user": {"email": "a@b.cd", "password": "Zq8vXw2pLm4k"}, "prefs": {"site_name": "infra"}}, "t0k")))
print(json.dumps(m.setup_errors({"token": "t0k", "user": {"email": "a@b.cd", "password": "Zq8vXw2pLm4k"}, "prefs": {"site_name": "x"}}, None)))`,
    );
    const [bad, good, none] = r.out.split('\n').map((l) => JSON.parse(l));
    expect(bad).toEqual({
      token: 'Token does not match the setup token.',
      email: 'value must be a valid email address.',
      password: 'password is too common.',
      site_name: 'value must be a non-blank string.',
    });
    expect(good).toEqual({});
    expect(none).toEqual({ token: 'Token does not match the setup token.' });
  });

  it('answers mask the password; a PUT with the mask keeps the stored one, a new value replaces it', () => {
    const r = py(
      `s = {"host": "db", "user": "analytics_ro", "password": "secret1"}
print(json.dumps(m.masked(s)))
print(json.dumps(m.merged_details(s, {"host": "db2", "password": m.MASK})))
print(json.dumps(m.merged_details(s, {"password": "new2"})))`,
    );
    const [masked, kept, replaced] = r.out.split('\n').map((l) => JSON.parse(l));
    expect(masked).toEqual({ host: 'db', user: 'analytics_ro', password: '**MetabasePass**' });
    expect(kept).toEqual({ host: 'db2', user: 'analytics_ro', password: 'secret1' });
    expect(replaced.password).toBe('new2');
  });

  it('details are sealed at rest with the key (the password is not in clear) and open again', () => {
    const r = py(
      `k = "k" * 32
t = m.seal(k, '{"password": "secret1"}')
print("secret1" in t, m.unseal(k, t))
try:
    m.unseal("x" * 32, t)
except ValueError as e:
    print(e)
print(m.seal(None, "{}"))`,
    );
    expect(r.out.split('\n')).toEqual([
      'False {"password": "secret1"}',
      'details cannot be decrypted with this MB_ENCRYPTION_SECRET_KEY',
      '{}',
    ]);
  });

  it('refuses to start on H2, with both MB_DB_PASS and MB_DB_PASS_FILE, or a short key', () => {
    expect(py('m.config()').code).toBe(1);
    expect(py('m.config()', { MB_DB_TYPE: 'h2' }).out).toMatch(/MB_DB_TYPE is 'h2'/);
    const both = py('m.config()', {
      MB_DB_TYPE: 'postgres',
      MB_DB_HOST: 'db',
      MB_DB_DBNAME: 'metabase',
      MB_DB_USER: 'metabase',
      MB_DB_PASS: 'x',
      MB_DB_PASS_FILE: '/dev/null',
    });
    expect(both.out).toMatch(/both MB_DB_PASS and MB_DB_PASS_FILE are set/);
    const base = {
      MB_DB_TYPE: 'postgres',
      MB_DB_HOST: 'db',
      MB_DB_DBNAME: 'metabase',
      MB_DB_USER: 'metabase',
    };
    expect(py('m.config()', { ...base, MB_ENCRYPTION_SECRET_KEY: 'short' }).out).toMatch(/at least 16/);
    expect(py('m.config()', { ...base, MB_ENCRYPTION_SECRET_KEY_FILE: '/dev/null' }).out).toMatch(
      /not read by Metabase/,
    );
    const ok = py('c = m.config(); print(c["db"]["user"], c["port"])', { ...base, MB_JETTY_PORT: '3100' });
    expect(ok).toEqual({ out: 'metabase 3100', code: 0 });
  });
});
