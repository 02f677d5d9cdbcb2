import { defineConfig } from 'vitest/config';

// The guest's vitest run (scripts/vm/run.sh runs it inside the QEMU guest, where
// the repository is read-only): caches and the report go to the guest's /tmp,
// the report to the run's results directory the host reads back. One file at a
// time: the tests share the guest's NICs.
export default defineConfig({
  cacheDir: '/tmp/lrvm-vite-cache',
  test: {
    include: ['test/vm/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['verbose', 'json'],
    outputFile: { json: process.env.LINERATE_VM_RESULTS ?? '/tmp/lrvm/results/vitest.json' },
  },
});
