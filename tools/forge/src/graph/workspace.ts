import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';
import { namedPatches, parseRecipe } from '../recipe/recipe.js';
import { parseYamlText } from '../recipe/yaml-file.js';
import { renderRecipe, type RenderedVariant } from '../variants/render.js';
import { parseVariantConfig, type VariantConfig } from '../variants/variant-config.js';
import { RenderCache } from './render-cache.js';

/** A recipe folder as an Nx project: `pkgs/<name>/recipe/recipe.yaml`. */
export interface RecipeProject {
  /** Project name: the folder name under the recipes folder. */
  readonly name: string;
  /** Workspace-relative project root, e.g. `pkgs/cumm`. */
  readonly root: string;
  /** Workspace-relative recipe file. */
  readonly recipeFile: string;
  /** Every rendered output variant, skipped ones included. */
  readonly rendered: readonly RenderedVariant[];
}

export function buildable(project: RecipeProject): RenderedVariant[] {
  return project.rendered.filter((variant) => !variant.skipped);
}

export const RECIPE_GLOB_SUFFIX = 'recipe/recipe.yaml';

/** Workspace-relative recipe files, sorted, under `<recipesDir>/*\/recipe/recipe.yaml`. */
export function discoverRecipes(root: string, options: ForgeOptions): string[] {
  const dir = join(root, options.recipesDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, RECIPE_GLOB_SUFFIX)))
    .map((entry) => posix.join(options.recipesDir, entry.name, RECIPE_GLOB_SUFFIX))
    .sort();
}

export function projectOf(recipeFile: string): { name: string; root: string } {
  const root = posix.dirname(posix.dirname(recipeFile));
  return { name: posix.basename(root), root };
}

export interface LoadedVariantConfig {
  readonly config: VariantConfig;
  readonly text: string;
}

export function readVariantConfig(root: string, file: string): LoadedVariantConfig {
  let text: string;
  try {
    text = readFileSync(join(root, file), 'utf8');
  } catch {
    throw new ForgeError('variant config not found (set `variantConfig` in the plugin options of nx.json)', { file });
  }
  return { config: parseVariantConfig(parseYamlText(file, text)), text };
}

/**
 * Renders the recipes (from the cache where the content is unchanged) and
 * checks that every patch they name exists.
 */
export function loadProjects(
  root: string,
  options: ForgeOptions,
  recipeFiles: readonly string[] = discoverRecipes(root, options),
  cache: RenderCache = RenderCache.forWorkspace(root),
): RecipeProject[] {
  const variants = readVariantConfig(root, options.variantConfig);
  const keys = new Set<string>();
  const projects = recipeFiles.map((recipeFile) => {
    let text: string;
    try {
      text = readFileSync(join(root, recipeFile), 'utf8');
    } catch {
      throw new ForgeError('recipe file not found', { file: recipeFile });
    }
    const key = RenderCache.key(text, variants.text, options.targetPlatform);
    keys.add(key);
    let rendered = cache.get(key);
    const recipe = rendered ? undefined : parseRecipe(parseYamlText(recipeFile, text));
    if (!rendered) {
      rendered = renderRecipe(recipe!, variants.config, { targetPlatform: options.targetPlatform });
      cache.set(key, rendered);
    }
    checkPatches(root, recipeFile, text);
    return { ...projectOf(recipeFile), recipeFile, rendered };
  });
  if (recipeFiles.length) cache.save();
  return projects;
}

function checkPatches(root: string, recipeFile: string, text: string): void {
  if (!text.includes('patches')) return;
  const recipe = parseRecipe(parseYamlText(recipeFile, text));
  const dir = posix.dirname(recipeFile);
  for (const { patch, path } of namedPatches(recipe)) {
    if (patch.includes('${{')) continue;
    if (!existsSync(join(root, dir, patch))) {
      throw new ForgeError(`patch \`${patch}\` does not exist (looked for ${posix.join(dir, patch)})`, {
        file: recipeFile,
        line: recipe.yaml.lineOf(path),
      });
    }
  }
}
