import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isInnerPath, writeFileAtomic } from '../json-file.js';
import type { KeyInputs } from './content-key.js';

/**
 * What `upload-wheels` published for one wheel task, kept in the wheel index
 * beside the PEP 503 pages (`<index>/.forge/<project>/<task>.json`, a folder
 * no project page links to, so installers never see it). A wheel carries no
 * record of its inputs, so this is what lets a later build skip a published
 * variant, and refuse to republish one whose inputs changed under the same name.
 */
export interface PublishedWheels {
  readonly project: string;
  readonly id: string;
  readonly key: string;
  readonly inputs: KeyInputs;
  /** `<version>` and build tag the files carry: the same ones with other inputs would be the same file names. */
  readonly version: string;
  readonly buildNumber: number | null;
  /**
   * Each published file: its path in the task's wheelhouse folder and in the index, and its sha256 (records
   * written before it was kept have none), checked when a build copies the file back.
   */
  readonly files: ReadonlyArray<{ readonly file: string; readonly index: string; readonly sha256?: string }>;
  readonly at: string;
}

export type PublishedLookup = { readonly found: true; readonly record: PublishedWheels; readonly where: string } | { readonly found: false; readonly problem?: string };

const recordPath = (project: string, id: string) => `.forge/${project}/${id}.json`;

/** The wheel index as a URL base or a folder: http(s) stays a URL, a path or file:// becomes a folder. */
export function wheelIndexLocation(value: string, root: string): { readonly url: string } | { readonly dir: string } {
  if (/^https?:\/\//i.test(value)) return { url: value.replace(/\/+$/, '') };
  if (value.startsWith('file://')) return { dir: fileURLToPath(value) };
  return { dir: isAbsolute(value) ? value : resolve(root, value) };
}

/** The record of a task's published wheels in the index, if it has one. */
export async function findPublished(index: string, root: string, project: string, id: string): Promise<PublishedLookup> {
  const where = wheelIndexLocation(index, root);
  try {
    if ('dir' in where) return checked(JSON.parse(readFileSync(join(where.dir, recordPath(project, id)), 'utf8')), where.dir, project, id);
    const response = await fetch(`${where.url}/${recordPath(project, id)}`, { signal: AbortSignal.timeout(10_000) });
    if (response.status === 404) return { found: false };
    if (!response.ok) return { found: false, problem: `${where.url}: HTTP ${response.status}` };
    return checked(await response.json(), where.url, project, id);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { found: false };
    return { found: false, problem: `${index}: ${(error as Error).message}` };
  }
}

/**
 * A record as read: its file paths are joined to the task's staging folder and
 * the index when a published variant is copied back, so one that is not a
 * plain relative path (`../..`, absolute) from a damaged or hostile index is
 * refused, not followed.
 */
function checked(value: unknown, where: string, project: string, id: string): PublishedLookup {
  const record = value as Partial<PublishedWheels> | null;
  const valid = typeof record === 'object' && record !== null && typeof record.key === 'string' && typeof record.version === 'string'
    && typeof record.inputs === 'object' && record.inputs !== null && Array.isArray(record.files)
    && record.files.every((entry) => typeof entry === 'object' && entry !== null && isInnerPath(entry.file) && isInnerPath(entry.index)
      && (entry.sha256 === undefined || typeof entry.sha256 === 'string'));
  if (!valid) return { found: false, problem: `${where}/${recordPath(project, id)} is not a valid record of published wheels (ignored)` };
  return { found: true, record: record as PublishedWheels, where };
}

/** Written after the wheels are in the index, through a rename: a record always names files that are there. */
export function writePublished(indexDir: string, record: PublishedWheels): void {
  const file = join(indexDir, recordPath(record.project, record.id));
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
}
