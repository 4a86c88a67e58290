import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ForgeError } from '../errors.js';

/** The nearest folder at or above `start` that holds an nx.json. */
export function findWorkspaceRoot(start = process.cwd()): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new ForgeError(`no nx.json found in ${resolve(start)} or above: run forge inside a wv-forge workspace`);
    dir = parent;
  }
}
