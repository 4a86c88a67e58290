import { ForgeError } from '../errors.js';
import { localSources, namedPatches, parseRecipe } from '../recipe/recipe.js';
import { workspacePath } from '../recipe/recipe-paths.js';
import { parseYamlText } from '../recipe/yaml-file.js';
import { renderRecipe } from '../variants/render.js';
import { parseVariantConfig } from '../variants/variant-config.js';
import type { RenderEntry } from './render-cache.js';

/*
 * The render-cache miss path: the only module that parses recipe YAML and
 * evaluates Jinja. It pulls in the YAML parser, minijinja and rattler (both
 * WASM), so callers import it dynamically and a fully cached load never does.
 */

/** Renders recipes (workspace-relative file and text) against one variant config. */
export function renderRecipes(
  variantConfig: { readonly file: string; readonly text: string },
  targetPlatform: string,
  recipes: ReadonlyArray<{ readonly file: string; readonly text: string }>,
): RenderEntry[] {
  const config = parseVariantConfig(parseYamlText(variantConfig.file, variantConfig.text));
  return recipes.map(({ file, text }) => {
    const recipe = parseRecipe(parseYamlText(file, text));
    const sources: Array<{ source: string; line: number | undefined }> = [];
    for (const { source, path } of localSources(recipe)) {
      // A path chosen by an expression cannot be known here; the engine reads it all the same.
      if (source.includes('${{')) continue;
      // Inside the workspace it is hashed with the recipe folder (content key and Nx inputs); elsewhere nothing could see its edits.
      const inWorkspace = workspacePath(file, source);
      if (inWorkspace === undefined) {
        throw new ForgeError(`source path \`${source}\` is outside the workspace: a variant's content key and Nx inputs cover only the workspace, so an edit there would rebuild nothing (move the sources into the workspace, or use a url or git source)`, { file, line: recipe.yaml.lineOf(path) });
      }
      // The workspace root holds node_modules, .nx and the outputs: its key would change with every build.
      if (inWorkspace === '.') throw new ForgeError(`source path \`${source}\` is the workspace root: keep the package's sources in a folder of their own`, { file, line: recipe.yaml.lineOf(path) });
      sources.push({ source, line: recipe.yaml.lineOf(path) });
    }
    const patches = namedPatches(recipe)
      // A patch chosen by an expression is checked by the engine when it applies it.
      .filter(({ patch }) => !patch.includes('${{'))
      .map(({ patch, path }) => ({ patch, line: recipe.yaml.lineOf(path) }));
    return { rendered: renderRecipe(recipe, config, { targetPlatform }), patches, sources };
  });
}
