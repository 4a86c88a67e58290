import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_FRONT } from '../src/engine/engine.js';
import { loadRecipe } from '../src/recipe/recipe.js';
import { renderRecipe } from '../src/variants/render.js';
import { loadVariantConfig } from '../src/variants/variant-config.js';
import { enginePython, fixturesDir, repoRoot } from './support/paths.js';

interface Rendered {
  name: string;
  version: string;
  buildString: string;
  subdir: string;
  skipped: boolean;
  file: string;
  variant: Record<string, string | number | boolean>;
}

const run = promisify(execFile);

/** What rattler-build's own renderer (py-rattler-build) says, through the embedded front. */
async function engineRender(recipe: string, variants: string): Promise<Rendered[]> {
  const { stdout } = await run(enginePython(), [EMBEDDED_FRONT, 'render', '--recipe', recipe, '-m', variants, '--target-platform', 'linux-64']);
  return JSON.parse(stdout) as Rendered[];
}

function ours(recipe: string, variants: string): Rendered[] {
  return renderRecipe(loadRecipe(recipe), loadVariantConfig(variants), { targetPlatform: 'linux-64' });
}

const shape = (list: Rendered[]) =>
  list
    // The front prints values as text; the build strings carry the typed hash.
    .map(({ name, version, buildString, subdir, skipped, file, variant }) => ({
      name,
      version,
      buildString,
      subdir,
      skipped,
      file,
      variant: Object.fromEntries(Object.entries(variant).map(([k, v]) => [k, String(v)])),
    }))
    .sort((a, b) => a.file.localeCompare(b.file));

const fixtures = readdirSync(join(fixturesDir, 'recipes')).sort();
// Folders with a recipe: a wheel-only project (pkgs/pointops) has none.
const packages = readdirSync(join(repoRoot, 'pkgs')).filter((name) => existsSync(join(repoRoot, 'pkgs', name, 'recipe', 'recipe.yaml'))).sort();

describe('the variant engine agrees with rattler-build', () => {
  it('covers at least twelve fixtures and the eight wv-forge recipes', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(12);
    expect(packages).toHaveLength(8);
  });

  it.each(fixtures)('fixture %s: same variants, build strings, skips and file names', async (name) => {
    const recipe = join(fixturesDir, 'recipes', name, 'recipe.yaml');
    const variants = join(fixturesDir, 'recipes', name, 'variant_config.yaml');
    const expected = shape(await engineRender(recipe, variants));
    expect(expected.length).toBeGreaterThan(0);
    expect(shape(ours(recipe, variants))).toEqual(expected);
  });

  it.each(packages)('pkgs/%s: same variants, build strings and file names', async (name) => {
    const recipe = join(repoRoot, 'pkgs', name, 'recipe', 'recipe.yaml');
    const variants = join(repoRoot, 'variants.yaml');
    expect(shape(ours(recipe, variants))).toEqual(shape(await engineRender(recipe, variants)));
  });
});
