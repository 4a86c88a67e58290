import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ForgeOptions } from '../config/forge-config.js';
import { workspaceDataDir, type RenderEntry } from '../graph/render-cache.js';
import type { RecipeSources } from '../graph/workspace.js';
import { isObject, readJsonFile, writeFileAtomic } from '../json-file.js';

export interface CachedNodes<T> {
  readonly key: string;
  readonly results: T;
  /** Patches and local sources named by each recipe: they can vanish without a recipe edit, so every hit checks them. */
  readonly patches: ReadonlyArray<{ readonly recipeFile: string; readonly patches: RenderEntry['patches']; readonly sources: RenderEntry['sources'] }>;
}

/**
 * The plugin's last answer, keyed by everything it depends on (options,
 * variant config, every recipe's text, and this build of the plugin). A warm
 * run with no recipe change reads one file instead of building the graph and
 * the targets again; any change rebuilds them, from the render cache.
 */
export class NodesCache {
  private readonly file: string;

  constructor(root: string) {
    this.file = join(workspaceDataDir(root), 'forge-nodes-cache.json');
  }

  static key(options: ForgeOptions, sources: RecipeSources): string {
    const hash = createHash('sha256').update(`${PLUGIN_BUILD}\0${JSON.stringify(options)}`);
    for (const recipe of sources.recipes) hash.update(`\0${recipe.file}\0${recipe.key}`);
    return hash.digest('hex');
  }

  /** The answer for this key; a damaged file is a miss, and the next write replaces it. */
  read<T extends unknown[]>(key: string): CachedNodes<T> | undefined {
    const cached = readJsonFile(this.file, (value): value is CachedNodes<T> =>
      isObject(value) && Array.isArray(value.results) && Array.isArray(value.patches)
      && value.patches.every((entry: unknown) => isObject(entry) && typeof entry.recipeFile === 'string' && Array.isArray(entry.patches) && Array.isArray(entry.sources)));
    return cached?.key === key ? cached : undefined;
  }

  /** Through a temporary file and a rename, so a reader never sees half a file. */
  write<T>(entry: CachedNodes<T>): void {
    writeFileAtomic(this.file, JSON.stringify(entry));
  }
}

/** This build of the plugin (tsc rewrites every file), so a rebuilt plugin never answers from an old cache. */
const PLUGIN_BUILD = String(statSync(fileURLToPath(import.meta.url)).mtimeMs);
