import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecipeGraph } from '../graph/recipe-graph.js';
import { runDepends } from './environments.js';

interface PredictedRecord {
  readonly name: string;
  readonly version: string;
  readonly build: string;
  readonly build_number: number;
  readonly depends: string[];
  readonly subdir: string;
  readonly noarch?: string;
}

/**
 * A conda channel of the packages this workspace will produce, as the variant
 * engine predicts them (name, version, build string, run dependencies), none
 * built yet: solving against it first, before the configured channels, is
 * what the engine sees when the upstream outputs come first.
 *
 * Its folder is named by the hash of its content and written by one rename,
 * so concurrent solves share it and never see half of it.
 */
export function writePredictedChannel(dir: string, graph: RecipeGraph, targetPlatform: string): { path: string; hash: string } {
  const subdirs = new Map<string, Record<string, PredictedRecord>>([[targetPlatform, {}], ['noarch', {}]]);
  for (const tasks of [...graph.tasks.values()]) {
    for (const task of tasks) {
      for (const output of task.outputs) {
        const record: PredictedRecord = {
          name: output.name,
          version: output.version,
          build: output.buildString,
          build_number: output.buildNumber,
          depends: runDepends(output, task.outputs),
          subdir: output.subdir,
          ...(output.noarch ? { noarch: output.noarch } : {}),
        };
        if (!subdirs.has(output.subdir)) subdirs.set(output.subdir, {});
        subdirs.get(output.subdir)![output.file.slice(output.subdir.length + 1)] = record;
      }
    }
  }
  const files = [...subdirs].sort(([a], [b]) => a.localeCompare(b)).map(([subdir, packages]) => ({
    subdir,
    text: `${JSON.stringify({ info: { subdir }, packages: {}, 'packages.conda': sortKeys(packages), repodata_version: 1 }, null, 1)}\n`,
  }));
  const hash = createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
  const path = join(dir, `predicted-${hash}`);
  if (!existsSync(path)) {
    const staging = `${path}.${process.pid}.tmp`;
    rmSync(staging, { recursive: true, force: true });
    for (const { subdir, text } of files) {
      mkdirSync(join(staging, subdir), { recursive: true });
      writeFileSync(join(staging, subdir, 'repodata.json'), text);
    }
    try {
      renameSync(staging, path);
    } catch (error) {
      // Another process wrote the same content first.
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(path)) throw error;
    }
    // Channels of earlier recipe contents are of no further use.
    for (const entry of readdirSync(dir)) if (entry.startsWith('predicted-') && !entry.endsWith('.tmp') && join(dir, entry) !== path) rmSync(join(dir, entry), { recursive: true, force: true });
  }
  return { path, hash };
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
