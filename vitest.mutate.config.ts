import { defineConfig } from 'vitest/config';

/**
 * The tests Stryker runs against each mutant (`npm run mutate`): the in-process
 * unit tests of the key and skip logic (tools/forge/test/*-units.test.ts). No
 * global setup (they import tools/forge/src, not dist/) and no workspace
 * builds through Nx, which take minutes each; their only engine calls are
 * renders and one one-second noarch build.
 *
 * content-key.test.ts and variant-engine.test.ts cover the same code but
 * compute while vitest collects them (module and describe level), which
 * Stryker can only attribute to every test ("static" mutants, each rerunning
 * the whole set): with them a run took over an hour on two shared cores.
 */
export default defineConfig({
  test: {
    include: ['tools/forge/test/*-units.test.ts'],
    testTimeout: 60_000,
  },
});
