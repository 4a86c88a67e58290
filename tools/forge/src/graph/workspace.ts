import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';
import type { RenderedVariant } from '../variants/render.js';
import { workspacePath } from '../recipe/recipe-paths.js';
import { RenderCache, type RenderEntry } from './render-cache.js';

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
  /** The patches it names, which must exist. */
  readonly patches: RenderEntry['patches'];
  /** The local sources it names, which must exist. */
  readonly sources: RenderEntry['sources'];
  /**
   * Workspace-relative local sources and patches outside the recipe folder: the
   * engine reads them, so they are inputs of its builds like the folder itself.
   */
  readonly outsideInputs: readonly string[];
}

export function buildable(project: RecipeProject): RenderedVariant[] {
  return project.rendered.filter((variant) => !variant.skipped);
}

export const RECIPE_GLOB_SUFFIX = 'recipe/recipe.yaml';
/** Here, not beside the wheel.yaml parser: the plugin needs the name on every run, the parser only on a cache miss. */
export const WHEEL_FILE_SUFFIX = 'wheel/wheel.yaml';

/** Workspace-relative project files, sorted, under `<recipesDir>/*\/<suffix>` (a recipe's or a wheel project's). */
export function discoverProjectFiles(root: string, options: ForgeOptions, suffix: typeof RECIPE_GLOB_SUFFIX | typeof WHEEL_FILE_SUFFIX): string[] {
  const dir = join(root, options.recipesDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, suffix)))
    .map((entry) => posix.join(options.recipesDir, entry.name, suffix))
    .sort();
}

export function projectOf(recipeFile: string): { name: string; root: string } {
  const root = posix.dirname(posix.dirname(recipeFile));
  return { name: posix.basename(root), root };
}

export function readVariantConfigText(root: string, file: string): string {
  try {
    return readFileSync(join(root, file), 'utf8');
  } catch {
    throw new ForgeError('variant config not found (set `variantConfig` in the plugin options of nx.json)', { file });
  }
}

/** What decides a load: the variant config and every recipe's text with its render-cache key. */
export interface RecipeSources {
  readonly configText: string;
  readonly recipes: ReadonlyArray<{ readonly file: string; readonly text: string; readonly key: string }>;
}

export function readRecipeSources(root: string, options: ForgeOptions, recipeFiles: readonly string[] = discoverProjectFiles(root, options, RECIPE_GLOB_SUFFIX)): RecipeSources {
  const configText = readVariantConfigText(root, options.variantConfig);
  const scope = RenderCache.scope(configText, options.targetPlatform);
  const recipes = recipeFiles.map((file) => {
    let text: string;
    try {
      text = readFileSync(join(root, file), 'utf8');
    } catch {
      throw new ForgeError('recipe file not found', { file });
    }
    return { file, text, key: RenderCache.key(scope, file, text) };
  });
  return { configText, recipes };
}

/**
 * Renders the recipes and checks that every patch they name exists. A recipe
 * whose content (and the variant config and platform) is in the render cache
 * is neither parsed nor evaluated; only a miss loads the renderer.
 */
export async function loadProjects(
  root: string,
  options: ForgeOptions,
  sources: RecipeSources = readRecipeSources(root, options),
  cache: RenderCache = RenderCache.forWorkspace(root),
): Promise<RecipeProject[]> {
  const misses = sources.recipes.filter((recipe) => !cache.get(recipe.key));
  if (misses.length) {
    const { renderRecipes } = await import('./render-recipes.js');
    const entries = renderRecipes({ file: options.variantConfig, text: sources.configText }, options.targetPlatform, misses);
    misses.forEach((miss, i) => cache.set(miss.key, entries[i]!));
    cache.retain(new Set(sources.recipes.map((recipe) => recipe.key)));
    cache.save();
  }
  return sources.recipes.map(({ file, key }) => {
    const { rendered, patches, sources } = cache.get(key)!;
    checkPatches(root, file, patches);
    checkSources(root, file, sources);
    return { ...projectOf(file), recipeFile: file, rendered, patches, sources, outsideInputs: outsideInputs(file, [...patches.map((p) => p.patch), ...sources.map((s) => s.source)]) };
  });
}

/** The paths (relative to the recipe folder) that leave it, workspace-relative, sorted and without repeats. */
function outsideInputs(recipeFile: string, paths: readonly string[]): string[] {
  const dir = posix.dirname(recipeFile);
  const outside = paths.map((path) => posix.normalize(posix.join(dir, path))).filter((path) => posix.relative(dir, path).startsWith('..'));
  return [...new Set(outside)].sort();
}

/** The engine stops a build on a local source that is not there ("failed to canonicalize path"), with no line, after the solve. */
export function checkSources(root: string, recipeFile: string, sources: RenderEntry['sources']): void {
  const dir = posix.dirname(recipeFile);
  for (const { source, line } of sources) {
    if (!existsSync(join(root, dir, source))) throw new ForgeError(`source path \`${source}\` does not exist (looked for ${posix.normalize(posix.join(dir, source))})`, { file: recipeFile, line });
  }
}

export function checkPatches(root: string, recipeFile: string, patches: RenderEntry['patches']): void {
  const dir = posix.dirname(recipeFile);
  for (const { patch, line } of patches) {
    // Nx's inputs cover only the workspace: an edit to a patch beyond it would restore the old build.
    if (workspacePath(recipeFile, patch) === undefined) {
      throw new ForgeError(`patch \`${patch}\` is outside the workspace: Nx's inputs cover only the workspace, so an edit there would restore the old build (keep it in the recipe folder)`, { file: recipeFile, line });
    }
    const path = join(root, dir, patch);
    if (!existsSync(path)) throw new ForgeError(`patch \`${patch}\` does not exist (looked for ${posix.join(dir, patch)})`, { file: recipeFile, line });
    // A folder passes the check above and fails only in the engine's patch step.
    if (!statSync(path).isFile()) throw new ForgeError(`patch \`${patch}\` is not a file (${posix.join(dir, patch)})`, { file: recipeFile, line });
  }
}
