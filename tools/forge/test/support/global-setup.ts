import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** The CLI and the Nx plugin run from dist/, so tests always see the current sources compiled. */
export default function setup(): void {
  execFileSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(repoRoot, 'tools/forge/tsconfig.json')], { stdio: 'inherit' });
}
