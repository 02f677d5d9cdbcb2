import { defineConfig } from 'vitest/config';

// Tests run in forked processes (native addon + pinned threads: no sharing of
// one process between test files). On a 2-core machine two files at a time is
// the most that does not starve the lcores the tests start.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/vm/ runs inside the QEMU guest (its own config), driven by test/vm.test.ts.
    exclude: ['test/vm/**', 'node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
