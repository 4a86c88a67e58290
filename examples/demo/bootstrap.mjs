// Builds the stand-in bootstrap channel (python, cuda-version) with the same
// engine the builds use, so the demo and the tests need no conda-forge.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every recipe folder under `recipesDir`, with all variants of
 * `recipesDir/variants.yaml`, into the channel folder `into`. All builds share
 * one engine output folder, which the engine re-indexes after each build.
 */
export async function buildBootstrapChannel(recipesDir, into, repo) {
  const { locateEngine } = await import(join(repo, 'tools/forge/dist/engine/engine.js'));
  const { runEngineBuild, collectChannel } = await import(join(repo, 'tools/forge/dist/executors/engine-build.js'));
  const engine = locateEngine(repo);
  const work = `${into}.work`;
  rmSync(work, { recursive: true, force: true });
  for (const name of readdirSync(recipesDir).filter((n) => existsSync(join(recipesDir, n, 'recipe.yaml'))).sort()) {
    const result = await runEngineBuild(
      engine,
      { recipeDir: join(recipesDir, name), variantConfig: join(recipesDir, 'variants.yaml'), targetPlatform: 'linux-64', overrides: {}, channels: [], outputDir: work, extraArgs: [], label: `bootstrap:${name}` },
      () => undefined,
    );
    if (!result.ok) throw new Error(`bootstrap ${name} failed:\n${result.tail.join('\n')}`);
  }
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  const files = collectChannel(work, into, ['linux-64']);
  rmSync(work, { recursive: true, force: true });
  console.log(`bootstrap channel ${into}: ${files.join(', ')}`);
  return files;
}
