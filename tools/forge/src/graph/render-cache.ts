import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RenderedVariant } from '../variants/render.js';

/** Bumped when the engine's output for the same inputs changes. */
const ENGINE_REVISION = '3';

/**
 * Rendered variants keyed by the content that decides them (recipe text,
 * variant config text, platform), like Nx's inferred-target plugins key their
 * results by file hash: an unchanged recipe is never re-evaluated.
 */
export class RenderCache {
  private entries: Record<string, RenderedVariant[]>;
  private dirty = false;

  constructor(private readonly file: string | undefined) {
    this.entries = file ? readEntries(file) : {};
  }

  static forWorkspace(root: string): RenderCache {
    const dir = process.env.NX_WORKSPACE_DATA_DIRECTORY ?? join(root, '.nx', 'workspace-data');
    return new RenderCache(join(dir, 'forge-render-cache.json'));
  }

  static key(recipeText: string, configText: string, targetPlatform: string): string {
    return createHash('sha256').update(`${ENGINE_REVISION}\0${targetPlatform}\0${configText}\0${recipeText}`).digest('hex');
  }

  get(key: string): RenderedVariant[] | undefined {
    return this.entries[key];
  }

  set(key: string, value: RenderedVariant[]): void {
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
    mkdirSync(dirname(this.file), { recursive: true });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.entries));
    renameSync(temporary, this.file);
    this.dirty = false;
  }
}

function readEntries(file: string): Record<string, RenderedVariant[]> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, RenderedVariant[]>;
  } catch {
    return {};
  }
}
