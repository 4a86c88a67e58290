import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tools/forge/test/**/*.test.ts'],
    globalSetup: ['tools/forge/test/support/global-setup.ts'],
    // Integration tests start Nx and the Python engine; two cores, so keep it modest.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
