import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isObject, readJsonFile, writeFileAtomic } from '../json-file.js';
import type { RenderedVariant } from '../variants/render.js';

/** Where Nx keeps its workspace data, and wv-forge its caches: `nx reset` clears them. */
export function workspaceDataDir(root: string): string {
  return process.env.NX_WORKSPACE_DATA_DIRECTORY || join(root, '.nx', 'workspace-data');
}

/** Bumped when the engine's output for the same inputs, the entry's shape, or what a render refuses changes (6: local source paths; 7: the format table's fixes, issue 19; 8: field shapes, local sources with their lines, bare versions in requirements). */
const ENGINE_REVISION = '8';

/** What a cache hit must give without parsing the recipe: its variants and the patches it names. */
export interface RenderEntry {
  readonly rendered: RenderedVariant[];
  /** Patch paths (relative to the recipe folder) and the line naming each, checked on every load. */
  readonly patches: ReadonlyArray<{ readonly patch: string; readonly line?: number }>;
  /** Local source folders or files (`source.path`, relative to the recipe folder) and the line naming each, checked on every load. */
  readonly sources: ReadonlyArray<{ readonly source: string; readonly line?: number }>;
}

/**
 * Rendered recipes keyed by the content that decides them (recipe text,
 * variant config text, platform), like Nx's inferred-target plugins key their
 * results by file hash: an unchanged recipe is never re-evaluated, whatever
 * happened to the others.
 */
export class RenderCache {
  private entries: Record<string, RenderEntry>;
  private dirty = false;

  constructor(private readonly file: string | undefined) {
    this.entries = file ? readEntries(file) : {};
  }

  static forWorkspace(root: string): RenderCache {
    return new RenderCache(join(workspaceDataDir(root), 'forge-render-cache.json'));
  }

  /** What every recipe of one load shares: hashed once, not once per recipe. */
  static scope(configText: string, targetPlatform: string): string {
    return createHash('sha256').update(`${ENGINE_REVISION}\0${targetPlatform}\0${configText}`).digest('hex');
  }

  /**
   * A recipe's entry: its text, and its place, as what a render accepts
   * depends on it (a `../../src` source path is inside the workspace from one
   * folder and outside it from another).
   */
  static key(scope: string, recipeFile: string, recipeText: string): string {
    return createHash('sha256').update(`${scope}\0${recipeFile}\0${recipeText}`).digest('hex');
  }

  /** A damaged entry is a miss: the recipe is rendered again and the entry replaced. */
  get(key: string): RenderEntry | undefined {
    const entry = this.entries[key];
    return isObject(entry) && Array.isArray(entry.rendered) && Array.isArray(entry.patches) && Array.isArray(entry.sources) ? entry : undefined;
  }

  set(key: string, value: RenderEntry): void {
    this.entries[key] = value;
    this.dirty = true;
  }

  /** Keeps only the given keys, so the file does not grow with every edit. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of Object.keys(this.entries)) {
      if (!keys.has(key)) {
        delete this.entries[key];
        this.dirty = true;
      }
    }
  }

  /** Written through a temporary file and a rename, so a reader never sees half a file. */
  save(): void {
    if (!this.file || !this.dirty) return;
    writeFileAtomic(this.file, JSON.stringify(this.entries));
    this.dirty = false;
  }
}

function readEntries(file: string): Record<string, RenderEntry> {
  return readJsonFile(file, (value): value is Record<string, RenderEntry> => isObject(value)) ?? {};
}
