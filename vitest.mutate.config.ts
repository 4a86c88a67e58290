import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against each mutant (`npm run mutate`): in-process
 * unit tests of the key and skip logic only. No global setup (they import
 * tools/forge/src, not dist/) and no real-engine builds, which take minutes
 * each; the few engine answers they compare with are single renders.
 */
export default defineConfig({
  test: {
    include: [
      'tools/forge/test/content-key.test.ts',
      'tools/forge/test/variant-engine.test.ts',
      'tools/forge/test/*-units.test.ts',
    ],
    testTimeout: 60_000,
  },
});
