import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir, repoRoot } from './support/paths.js';
import { engineRender, forgeRender, shape } from './support/parity.js';

const fixtures = readdirSync(join(fixturesDir, 'recipes')).sort();
// Folders with a recipe: a wheel-only project (pkgs/pointops) has none.
const packages = readdirSync(join(repoRoot, 'pkgs')).filter((name) => existsSync(join(repoRoot, 'pkgs', name, 'recipe', 'recipe.yaml'))).sort();

describe('the variant engine agrees with rattler-build', () => {
  it('covers at least twelve fixtures and the ten wv-forge recipes', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(12);
    expect(packages).toHaveLength(10);
  });

  it.each(fixtures)('fixture %s: same variants, build strings, skips and file names', async (name) => {
    const recipe = join(fixturesDir, 'recipes', name, 'recipe.yaml');
    const variants = join(fixturesDir, 'recipes', name, 'variant_config.yaml');
    const expected = shape(await engineRender(recipe, variants));
    expect(expected.length).toBeGreaterThan(0);
    expect(shape(forgeRender(recipe, variants))).toEqual(expected);
  });

  it.each(packages)('pkgs/%s: same variants, build strings and file names', async (name) => {
    const recipe = join(repoRoot, 'pkgs', name, 'recipe', 'recipe.yaml');
    const variants = join(repoRoot, 'variants.yaml');
    const expected = shape(await engineRender(recipe, variants));
    expect(expected.length).toBeGreaterThan(0);
    expect(shape(forgeRender(recipe, variants))).toEqual(expected);
  });
});
