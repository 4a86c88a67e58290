import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { EMBEDDED_FRONT } from '../../src/engine/engine.js';
import { loadRecipe } from '../../src/recipe/recipe.js';
import { renderRecipe } from '../../src/variants/render.js';
import { loadVariantConfig } from '../../src/variants/variant-config.js';
import { enginePython } from './paths.js';

/** One variant as both renderers describe it. */
export interface Rendered {
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
export async function engineRender(recipe: string, variants: string): Promise<Rendered[]> {
  const { stdout } = await run(enginePython(), [EMBEDDED_FRONT, 'render', '--recipe', recipe, '-m', variants, '--target-platform', 'linux-64']);
  return JSON.parse(stdout) as Rendered[];
}

/** What wv-forge's variant engine predicts. */
export function forgeRender(recipe: string, variants: string): Rendered[] {
  return renderRecipe(loadRecipe(recipe), loadVariantConfig(variants), { targetPlatform: 'linux-64' });
}

/** The fields both report, in one order; the front prints values as text (the build strings carry the typed hash). */
export const shape = (list: Rendered[]) =>
  list
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
