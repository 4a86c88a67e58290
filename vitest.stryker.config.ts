import { defineConfig } from 'vitest/config';

// What `npm run mutation` runs against each mutant: the fast tests that drive the content
// key and the variant engine directly (no Nx, no builds), so a run takes minutes.
export default defineConfig({
  test: {
    include: ['tools/forge/test/content-key.test.ts', 'tools/forge/test/variant-engine.test.ts'],
    testTimeout: 60_000,
  },
});
