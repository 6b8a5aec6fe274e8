import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Two projects (vitest's `projects`, sequence.groupOrder since 3.2): `unit` (test/unit: tables
 * and dash-run builders, no lab, short timeouts) runs first; `e2e` (the package, the lab's
 * self-test, the end-to-end scenarios that share the lab, the teardown last) after it.
 * Files run one at a time in `npm test` (fileParallelism is a global option before vitest 4);
 * `npm run test:unit` runs the unit project alone, in parallel threads.
 */
const rank = (file: string) =>
  /teardown/.test(file)
    ? 4
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
    // Builds dist/ when missing or stale: the CLI tests run the bundle (test/setup/build.ts).
    globalSetup: ['test/setup/build.ts'],
    fileParallelism: false,
    sequence: { sequencer: OrderedSequencer },
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
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
          include: ['test/package/**/*.test.ts', 'test/lab/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 20 * 60_000,
          hookTimeout: 30 * 60_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
