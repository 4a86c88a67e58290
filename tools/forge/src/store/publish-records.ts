import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isObject, readJsonFile, writeFileAtomic } from '../json-file.js';
import { currentOwner, ownerAlive, type ProcessOwner } from '../process-owner.js';

/** What an upload task did with one file, for the publish summary. */
export interface PublishRecord {
  readonly project: string;
  readonly variant: string;
  readonly file: string;
  readonly action: 'uploaded' | 'on-channel' | 'refused' | 'failed';
  readonly reason?: string;
  readonly seconds?: number;
  readonly at: string;
}

/** Set by `forge publish` for the upload tasks it runs: the run whose folder they write their records in. */
export const PUBLISH_RUN_ENV = 'FORGE_PUBLISH_RUN';

/** Finished runs kept besides the newest one's `publish-summary.*`; older ones are removed by the next publish. */
const KEPT_RUNS = 10;

const runsDir = (outputDir: string) => join(outputDir, '.publish');

/**
 * One `forge publish`: its folder (`output/.publish/<run>`) holds what its upload tasks
 * did and its summary, apart from any other publish on the workspace at the same time,
 * which would otherwise replace them (two runs' tasks of one package write one record
 * file; the last summary written would be the only one). The name sorts by start time.
 */
export function startPublishRun(outputDir: string, startedAt: number): string {
  const run = `${new Date(startedAt).toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  writeFileAtomic(join(publishRunDir(outputDir, run), 'owner.json'), JSON.stringify(currentOwner()));
  return run;
}

export function publishRunDir(outputDir: string, run: string): string {
  return join(runsDir(outputDir), run);
}

/** The publish run an upload task belongs to; none outside `forge publish`, where no summary reads records. */
export function currentPublishRun(): string | undefined {
  const run = process.env[PUBLISH_RUN_ENV];
  return run && /^[\w-]+$/.test(run) ? run : undefined;
}

const recordsFile = (outputDir: string, run: string, project: string) => join(publishRunDir(outputDir, run), 'records', `${project}.json`);

/** One file per package and run, replaced whole: each upload task writes only its own. */
export function writePublishRecords(outputDir: string, run: string, project: string, records: readonly PublishRecord[]): void {
  writeFileAtomic(recordsFile(outputDir, run, project), JSON.stringify(records, null, 2));
}

export function readPublishRecords(outputDir: string, run: string, project: string): PublishRecord[] {
  const isRecords = (value: unknown): value is PublishRecord[] =>
    Array.isArray(value) && value.every((record: unknown) => isObject(record) && ['project', 'variant', 'file', 'action', 'at'].every((field) => typeof record[field] === 'string'));
  return readJsonFile(recordsFile(outputDir, run, project), isRecords) ?? [];
}

/** A finished run's summary, beside its records. */
export function summaryFile(outputDir: string, run: string, extension: 'json' | 'md'): string {
  return join(publishRunDir(outputDir, run), `summary.${extension}`);
}

/**
 * Removes what no run needs: the runs of publishes that were killed (their owner is gone
 * and they wrote no summary), finished runs past the newest KEPT_RUNS, and the records
 * of the layout before runs (`.publish/<package>.json`). A run whose owner lives is left
 * alone; one without an owner file only once it is a minute old (it may be starting).
 */
export function prunePublishRuns(outputDir: string, own: string): void {
  let names: string[];
  try {
    names = readdirSync(runsDir(outputDir)).sort().reverse();
  } catch {
    return;
  }
  let finished = 0;
  for (const name of names) {
    const dir = join(runsDir(outputDir), name);
    if (name === own) continue;
    let stats;
    try {
      stats = statSync(dir);
    } catch {
      continue;
    }
    if (!stats.isDirectory()) {
      rmSync(dir, { force: true });
      continue;
    }
    const owner = readJsonFile(join(dir, 'owner.json'), (value): value is ProcessOwner => isObject(value) && typeof value.host === 'string' && typeof value.pid === 'number' && typeof value.start === 'string');
    if (owner ? ownerAlive(owner) : Date.now() - stats.mtimeMs < 60_000) continue;
    const done = readJsonFile(summaryFile(outputDir, name, 'json'), isObject) !== undefined;
    if (!done || ++finished > KEPT_RUNS) rmSync(dir, { recursive: true, force: true });
  }
}
