import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLogged, type LoggedRun } from '../engine/logged-process.js';
import { EMBEDDED_FRONT, type Engine } from '../engine/engine.js';
import { ForgeError } from '../errors.js';

export interface EngineBuildRequest {
  readonly recipeDir: string;
  readonly variantConfig: string;
  readonly targetPlatform: string;
  readonly overrides: Readonly<Record<string, string>>;
  readonly channels: readonly string[];
  readonly outputDir: string;
  readonly extraArgs: readonly string[];
  /** Prefix for every streamed log line, e.g. `spconv:py3.12-cuda12.6`. */
  readonly label: string;
  /** Variables to add to the engine's environment (the compile cache's). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * The rattler-build command line for exactly one variant (the embedded front takes the same flags).
 * The engine would also merge a variants.yaml beside the recipe, which the variant engine does not
 * read: its keys would change the build string under the predicted one, so the workspace's file alone decides.
 */
export function buildArgs(request: EngineBuildRequest): string[] {
  const args = ['build', '--recipe', request.recipeDir, '-m', request.variantConfig, '--ignore-recipe-variants', '--target-platform', request.targetPlatform, '--output-dir', request.outputDir];
  for (const [key, value] of Object.entries(request.overrides)) args.push('--variant', `${key}=${value}`);
  for (const channel of request.channels) args.push('-c', channel);
  return [...args, ...request.extraArgs];
}

/** Runs the engine for one variant, streaming its log line by line with the task's label in front. */
export function runEngineBuild(engine: Engine, request: EngineBuildRequest, write: (line: string) => void): Promise<LoggedRun> {
  return runLogged(engine.command, [...engine.prefix, ...buildArgs(request)], { label: request.label, env: { ...process.env, ...request.env, NO_COLOR: '1' } }, write);
}

/**
 * Removes the package files a build is about to make from rattler's shared
 * package cache, whichever engine builds: the engine's test step takes a cached
 * package of the same file name for the one it just built, so an edit that
 * keeps the file name would be tested with the previous build's files
 * (tools/forge/python/forge_pkg_cache.py says why and how it stays safe for
 * concurrent builds). Returns the cache entries removed.
 */
export async function evictFromPackageCache(python: string, files: readonly string[]): Promise<string[]> {
  // Loaded on use, as in stale-guard: execa's load time is paid only by a task that builds.
  const { execa } = await import('execa');
  const result = await execa(python, [EMBEDDED_FRONT, 'evict-cache', ...files], { reject: false });
  if (result.exitCode !== 0) throw new ForgeError(`cannot clear ${files.join(', ')} from rattler's package cache: ${result.stderr.trim().split('\n').pop()?.replace(/^error: /, '')}`);
  return JSON.parse(result.stdout) as string[];
}

const EMPTY_INDEX = (subdir: string) => JSON.stringify({ info: { subdir }, packages: {}, 'packages.conda': {}, repodata_version: 1 });

/**
 * Keeps only the channel part of an engine output folder (`<subdir>/*.conda`
 * and their repodata) in `into`, and gives every subdir an index so the folder
 * works as a channel for downstream builds whatever it holds.
 */
export function collectChannel(engineOutput: string, into: string, subdirs: readonly string[]): string[] {
  const files: string[] = [];
  for (const subdir of new Set([...subdirs, 'noarch'])) {
    const from = join(engineOutput, subdir);
    const to = join(into, subdir);
    if (existsSync(from)) {
      renameSync(from, to);
      for (const name of readdirSync(to)) if (name.endsWith('.conda') || name.endsWith('.tar.bz2')) files.push(`${subdir}/${name}`);
    } else {
      mkdirSync(to, { recursive: true });
    }
    if (!existsSync(join(to, 'repodata.json'))) writeFileSync(join(to, 'repodata.json'), EMPTY_INDEX(subdir));
  }
  return files.sort();
}
