import { vi } from 'vitest';

/**
 * setupFiles of the `unit` project (pure tables): a table test starts no process. Anything that
 * runs a script in dash, a fake tool, the built CLI or a stand-in server lives in a
 * `<module>.run.test.ts` file (project `run`); a table test that starts one fails here, naming
 * the rule, instead of quietly depending on dash, curl or a build.
 */
const refuse =
  (name: string) =>
  (..._args: unknown[]): never => {
    throw new Error(
      `${name}: a table test (project unit) starts no process; put this test in <module>.run.test.ts (project run)`,
    );
  };

vi.mock('node:child_process', async (original) => ({
  ...(await original<typeof import('node:child_process')>()),
  spawn: refuse('spawn'),
  spawnSync: refuse('spawnSync'),
  exec: refuse('exec'),
  execSync: refuse('execSync'),
  execFile: refuse('execFile'),
  execFileSync: refuse('execFileSync'),
  fork: refuse('fork'),
}));
