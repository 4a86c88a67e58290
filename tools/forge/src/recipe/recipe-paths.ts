import { isAbsolute, posix } from 'node:path';

/**
 * Where a path a recipe names (a source or a patch, relative to its folder)
 * leads, workspace-relative; `undefined` when it leaves the workspace (or is
 * absolute), where neither Nx's inputs nor the content key can follow it.
 */
export function workspacePath(recipeFile: string, path: string): string | undefined {
  if (isAbsolute(path)) return undefined;
  const resolved = posix.normalize(posix.join(posix.dirname(recipeFile), path));
  return resolved === '..' || resolved.startsWith('../') ? undefined : resolved;
}
