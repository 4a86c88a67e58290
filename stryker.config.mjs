/**
 * Mutation testing of the content key and the skip logic (`npm run mutate`;
 * not part of `npm test`: it reruns tests for every mutant). The report is
 * written to reports/mutation/ (ignored by git).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// The sandbox copy leaves out the engine's virtual environment (hundreds of MB):
// the tests find it here instead (see tools/forge/test/support/paths.ts).
const venvPython = join(import.meta.dirname, '.venv/bin/python');
if (!process.env.FORGE_PYTHON && existsSync(venvPython)) process.env.FORGE_PYTHON = venvPython;

export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'tools/forge/src/store/content-key.ts',
    'tools/forge/src/store/outputs.ts',
    'tools/forge/src/store/stale-guard.ts',
    'tools/forge/src/store/wheel-keys.ts',
    'tools/forge/src/variants/hash.ts',
    'tools/forge/src/variants/keys.ts',
    'tools/forge/src/variants/variant-config.ts',
  ],
  coverageAnalysis: 'perTest',
  // Two cores shared with other work: one test process at a time keeps the run bounded.
  concurrency: 1,
  timeoutMS: 30_000,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  ignorePatterns: ['.venv', '.nx', 'output', '.forge', 'bench/.work', 'reports'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
