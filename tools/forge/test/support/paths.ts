import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const fixturesDir = join(repoRoot, 'tools/forge/test/fixtures');
export const forgeBin = join(repoRoot, 'tools/forge/dist/cli/main.js');
export const nxBin = join(repoRoot, 'node_modules/nx/dist/bin/nx.js');

/** The Python that has py-rattler-build: FORGE_PYTHON, else the repo's .venv (made by `npm run setup:engine`). */
export function enginePython(): string {
  const candidate = process.env.FORGE_PYTHON || join(repoRoot, '.venv/bin/python');
  if (!existsSync(candidate)) {
    throw new Error(`no Python with py-rattler-build at ${candidate}: run \`npm run setup:engine\` (or set FORGE_PYTHON)`);
  }
  return candidate;
}
