import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/** The workspace's own Nx, for commands that hand work to it. */
export function nxBin(root: string): string {
  return createRequire(join(root, 'package.json')).resolve('nx/bin/nx');
}
