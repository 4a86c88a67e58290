import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Runs a compiled entry point of dist/. The bins point here rather than into dist/
 * because npm links a workspace's bins while it installs, before `prepare` has
 * compiled dist/: a bin whose file is missing then is not linked, and `npx forge`
 * would look for an unrelated `forge` package on the registry instead.
 */
export async function runDist(bin, entry) {
  const url = new URL(`../dist/${entry}`, import.meta.url);
  if (!existsSync(url)) {
    process.stderr.write(`${bin}: error: ${fileURLToPath(url)} is missing: run \`npm run build\` (npm install runs it unless scripts are off)\n`);
    process.exitCode = 2;
    return;
  }
  await import(url.href);
}
