import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMBEDDED_FRONT, embeddedPython } from '../engine/engine.js';
import { ForgeError } from '../errors.js';

export type Freshness = { readonly stale: false } | { readonly stale: true; readonly changed: readonly string[] };

/**
 * Is the package a channel holds under this file name built from the recipe
 * folder we have? rattler-build embeds the recipe folder (recipe, patches,
 * scripts) in every package under info/recipe/, so the recipe part of the
 * content key travels with the artifact: a file that differs means the recipe
 * changed without a new build number.
 */
export async function checkFreshness(python: string, channelUrl: string, file: string, localFiles: Readonly<Record<string, string>>): Promise<Freshness> {
  const scratch = mkdtempSync(join(tmpdir(), 'forge-stale-'));
  try {
    const local = join(scratch, file.split('/').pop()!);
    const url = `${channelUrl}/${file}`;
    if (url.startsWith('file://')) copyFileSync(fileURLToPath(url), local);
    else {
      const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
      if (!response.ok) throw new ForgeError(`cannot download ${url} to check it: HTTP ${response.status}`);
      writeFileSync(local, Buffer.from(await response.arrayBuffer()));
    }
    // Loaded on use: the build executor imports this module for the rare case of a file already on a channel.
    const { execa } = await import('execa');
    const { stdout } = await execa(python, [EMBEDDED_FRONT, 'inspect', local]);
    const published = (JSON.parse(stdout) as { recipeFiles: Record<string, string> }).recipeFiles;
    // Sources outside the recipe folder (`../src/…`) are not embedded: only the folder can be compared.
    const changed = Object.keys(localFiles).filter((name) => !name.startsWith('../') && published[name] !== localFiles[name]);
    return changed.length ? { stale: true, changed } : { stale: false };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The embedded front's Python: inspecting and indexing packages always use it, whatever builds. */
export function frontPython(root: string): string {
  const python = embeddedPython(root);
  if (!python) throw new ForgeError('checking and indexing packages needs the embedded engine: run `npm run setup:engine`');
  return python;
}

export function staleMessage(project: string, id: string, file: string, channel: string, changed: readonly string[]): string {
  return `${project}:${id}: ${channel} already has ${file}, built from a different recipe (changed: ${changed.join(', ')}); bump build.number in the recipe to publish the change`;
}
