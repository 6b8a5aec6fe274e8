import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files run one at a time in a fixed order: fast unit tables first (fail fast), then the lab's
 * self-test, then the end-to-end scenarios that share the lab, and the teardown (`lab down`) last.
 */
const rank = (file: string) =>
  /teardown/.test(file) ? 4 : file.includes('/test/e2e/') ? 3 : file.includes('/test/lab/') ? 2 : 1;

class OrderedSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort(
      (a, b) => rank(a.moduleId) - rank(b.moduleId) || a.moduleId.localeCompare(b.moduleId),
    );
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ when missing or stale: the CLI tests run the bundle (test/setup/build.ts).
    globalSetup: ['test/setup/build.ts'],
    fileParallelism: false,
    sequence: { sequencer: OrderedSequencer },
    testTimeout: 20 * 60_000,
    hookTimeout: 30 * 60_000,
    reporters: ['default'],
  },
});
