import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isObject, readJsonFile } from '../json-file.js';

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

const dir = (outputDir: string) => join(outputDir, '.publish');

/** One file per package, replaced whole: each upload task writes only its own. */
export function writePublishRecords(outputDir: string, project: string, records: readonly PublishRecord[]): void {
  mkdirSync(dir(outputDir), { recursive: true });
  const file = join(dir(outputDir), `${project}.json`);
  writeFileSync(`${file}.${process.pid}`, JSON.stringify(records, null, 2));
  renameSync(`${file}.${process.pid}`, file);
}

export function readPublishRecords(outputDir: string, project: string): PublishRecord[] {
  const isRecords = (value: unknown): value is PublishRecord[] =>
    Array.isArray(value) && value.every((record: unknown) => isObject(record) && ['project', 'variant', 'file', 'action', 'at'].every((field) => typeof record[field] === 'string'));
  return readJsonFile(join(dir(outputDir), `${project}.json`), isRecords) ?? [];
}
