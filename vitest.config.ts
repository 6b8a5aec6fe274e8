import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Three projects (vitest's `projects`, sequence.groupOrder since 3.2): `unit` (test/unit: pure
 * tables, no process, short timeouts) and `run` (`*.run.test.ts` under test/unit: dash-run builders
 * and probes, the engine over a local shell, the CLI; no lab) run first; `e2e` (the package, the
 * lab's self-test, the end-to-end scenarios that share the lab, the teardown last) after them.
 * Files run one at a time in `npm test` (fileParallelism is a global option before vitest 4);
 * `npm run test:unit` runs unit and run in parallel threads, `npm run test:tables` unit alone.
 */
const rank = (file: string) =>
  /teardown/.test(file)
    ? 4
    : file.includes('/test/e2e/analytics-')
      ? 3.5 // the analytics layer needs both hosts bootstrapped and the off-host copies
      : file.includes('/test/e2e/')
        ? 3
        : file.includes('/test/lab/')
          ? 2
          : file.includes('/test/package/')
            ? 1.5
            : 1;

class OrderedSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort(
      (a, b) => rank(a.moduleId) - rank(b.moduleId) || a.moduleId.localeCompare(b.moduleId),
    );
  }
}

export default defineConfig({
  test: {
    fileParallelism: false,
    sequence: { sequencer: OrderedSequencer },
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // Pure tables: values in, values out; no process (test/setup/no-processes.ts refuses one).
          include: ['test/unit/**/*.test.ts'],
          exclude: ['test/unit/**/*.run.test.ts'],
          setupFiles: ['test/setup/no-processes.ts'],
          // A table that needs more than this is waiting on something it should not.
          testTimeout: 10_000,
          hookTimeout: 10_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          // <module>.run.test.ts: runs something for real on this machine, no lab: a builder or
          // probe in dash, fake tools on PATH, the engine over a local shell, the built CLI, a
          // stand-in server on loopback. Needs dash and curl; the CLI tests the bundle (globalSetup).
          name: 'run',
          include: ['test/unit/**/*.run.test.ts'],
          // Builds dist/ when missing or stale: the CLI tests run the bundle (test/setup/build.ts).
          globalSetup: ['test/setup/build.ts'],
          // A unit test that needs more than this is waiting on something it should not.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          globalSetup: ['test/setup/build.ts'],
          include: ['test/package/**/*.test.ts', 'test/lab/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 20 * 60_000,
          hookTimeout: 30 * 60_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
