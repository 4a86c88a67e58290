import { join } from 'node:path';

/**
 * The entries one server keeps, each kind in its own folder under `--dir`:
 * Nx's task outputs by Nx's hash (`/v1/cache/{hash}`, in `--dir` itself as
 * before), and forge's content-key store (store/shared-store.ts): records by
 * `<kind>-<content key>` and the files they list by SHA-256. All follow the
 * same rules: read with any known token, write with a read-write one, never
 * replaced.
 */
const ROUTES: ReadonlyArray<{ readonly pattern: RegExp; readonly folder: string; readonly named?: 'sha256' }> = [
  { pattern: /^\/v1\/cache\/([A-Za-z0-9_-]{1,128})$/, folder: '' },
  { pattern: /^\/v1\/forge\/keys\/((?:conda|wheel)-[0-9a-f]{16,128})$/, folder: 'forge/keys' },
  // A blob is named by its SHA-256, and as entries are never replaced, one stored
  // under another content's name would stay wrong for good: the server checks it.
  { pattern: /^\/v1\/forge\/blobs\/([0-9a-f]{64})$/, folder: 'forge/blobs', named: 'sha256' },
];

/** The folders to create when a server starts. */
export const ENTRY_FOLDERS = ROUTES.map((route) => route.folder).filter(Boolean);

/** An entry's name, its file, and whether the name is its content's digest (checked on upload). */
export interface Entry {
  readonly name: string;
  readonly file: string;
  readonly named?: 'sha256';
}

/** The file a request path names (its name is also the upload's temporary name), or none for an unknown path. */
export function entryFile(dir: string, pathname: string): Entry | undefined {
  for (const { pattern, folder, named } of ROUTES) {
    const name = pattern.exec(pathname)?.[1];
    if (name) return { name, file: join(dir, folder, name), ...(named ? { named } : {}) };
  }
  return undefined;
}
