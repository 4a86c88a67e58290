import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A JSON file forge wrote earlier (a manifest, a failure record, a cache),
 * read back only while it still has the shape forge writes. A damaged or
 * hand-edited one counts as absent, so what it recorded is done again (a
 * rebuild, a fresh render) instead of a crash on a missing field.
 */
export function readJsonFile<T>(path: string, valid: (value: unknown) => value is T): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  return valid(value) ? value : undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isStringMap(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((item) => typeof item === 'string');
}

/** A path that stays inside the folder it is joined to: relative, no `.` or `..` parts, no backslashes. */
export function isInnerPath(path: unknown): path is string {
  return typeof path === 'string' && path !== '' && !path.startsWith('/') && !path.includes('\\') && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/**
 * Writes a file whole through a temporary file of this process and a rename: a reader,
 * or another process writing the same file, never sees half of one (the last rename wins).
 */
export function writeFileAtomic(path: string, text: string, mode?: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  // Set before the rename, whatever the umask: the file is never seen without it.
  if (mode !== undefined) chmodSync(temporary, mode);
  renameSync(temporary, path);
}
