import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runWheelTool } from '../engine/wheel-tool.js';
import { ForgeError } from '../errors.js';

/** What happened to one file in a publish. */
export interface PublishedFile {
  readonly file: string;
  /** The PEP 503 normalised project name: the folder it is in. */
  readonly project: string;
  /** `published`: copied in now; `present`: the index already had these exact bytes. */
  readonly action: 'published' | 'present';
  readonly sha256: string;
}

export interface PublishResult {
  readonly index: string;
  readonly files: readonly PublishedFile[];
  /** `<project>/<name>-<version>-variants.json` files rewritten because a variant wheel arrived. */
  readonly variantsJson: readonly string[];
}

/**
 * Publishes wheels into a PEP 503 "simple" index folder, `<index>/<project>/<file>`
 * with an `index.html` per project (sha256 fragments, data-requires-python) and a
 * root `index.html`; variant wheels also get their project's
 * `<name>-<version>-variants.json`, rebuilt by variantlib from every variant wheel
 * there. An index is append-only:
 *
 * - a file already there with the same bytes is `present`;
 * - a file already there with other bytes is refused (the stale guard): the whole
 *   call publishes nothing and the error names the file, because the same name must
 *   always mean the same wheel (bump the version or the local label instead);
 * - files arrive by temp file + rename and the pages are rebuilt from the folder
 *   under a lock, so concurrent publishes and interrupted ones leave a consistent index.
 *
 * One index per CUDA version (PyTorch's layout) is the caller's choice of `index`.
 * pip and uv read the folder as `--index-url file://<index>` (see {@link indexUrl}).
 */
export function publishWheels(root: string, index: string, wheels: readonly string[]): Promise<PublishResult> {
  if (wheels.length === 0) throw new ForgeError('publishWheels: no wheels given');
  return runWheelTool<PublishResult>(root, ['publish', index, ...wheels]);
}

/** A wheel index given as a folder path (relative to `root`) or a file:// URL -> its folder. */
export function indexDir(value: string, root: string): string {
  if (value.startsWith('file://')) return fileURLToPath(value);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new ForgeError(`wheel index \`${value}\`: only folders (a path or file:// URL) can be published to; upload to a server with uv publish or twine`);
  return isAbsolute(value) ? value : resolve(root, value);
}

/** The URL pip and uv take as `--index-url` for an index folder. */
export function indexUrl(dir: string): string {
  return pathToFileURL(dir).href;
}
