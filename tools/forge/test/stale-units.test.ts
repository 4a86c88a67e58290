import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForgeError } from '../src/errors.js';
import { folderFiles } from '../src/store/content-key.js';
import { checkFreshness, frontPython, staleMessage } from '../src/store/stale-guard.js';
import { enginePython, repoRoot } from './support/paths.js';

/**
 * The stale guard: a package a channel already has is compared with the local
 * recipe folder through the recipe rattler-build embeds in it. The package is
 * built here by the engine (a one-second noarch build), served from a folder
 * and over HTTP on 127.0.0.1.
 */
const scratch = mkdtempSync(join(tmpdir(), 'forge-stale-units-'));
const recipe = join(scratch, 'recipe');
const channel = join(scratch, 'channel');
let file = '';
let server: Server;
let url = '';

beforeAll(async () => {
  mkdirSync(recipe);
  writeFileSync(join(recipe, 'recipe.yaml'), 'package: {name: tiny, version: "1.0"}\nbuild:\n  noarch: generic\n  script: [mkdir -p $PREFIX/share, echo hi > $PREFIX/share/tiny.txt]\n');
  writeFileSync(join(recipe, 'notes.txt'), 'one\n');
  execFileSync(enginePython(), ['-W', 'ignore', '-c', 'import sys, rattler_build; rattler_build.build_recipes([sys.argv[1]], output_dir=sys.argv[2])', join(recipe, 'recipe.yaml'), channel], {
    env: { ...process.env, RATTLER_CACHE_DIR: join(scratch, 'rattler-cache') },
    stdio: 'ignore',
  });
  file = `noarch/${readdirSync(join(channel, 'noarch')).find((name) => name.endsWith('.conda'))!}`;
  server = createServer((request, response) => {
    try {
      response.end(readFileSync(join(channel, request.url!)));
    } catch {
      response.statusCode = 404;
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}, 120_000);

afterAll(() => {
  server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the stale guard', () => {
  it('finds a package built from the same recipe folder fresh, from a folder channel and over HTTP', async () => {
    const local = folderFiles(recipe);
    expect(await checkFreshness(frontPython(repoRoot), pathToFileURL(channel).href, file, local)).toEqual({ stale: false });
    expect(await checkFreshness(frontPython(repoRoot), url, file, local)).toEqual({ stale: false });
  });

  it('names the recipe files that differ, leaving out sources outside the folder, which packages do not embed', async () => {
    const local = { ...folderFiles(recipe), 'notes.txt': 'another hash', 'added.patch': 'h', '../src/main.c': 'h' };
    expect(await checkFreshness(frontPython(repoRoot), url, file, local)).toEqual({ stale: true, changed: ['notes.txt', 'added.patch'] });
    expect(await checkFreshness(frontPython(repoRoot), pathToFileURL(channel).href, file, local)).toEqual({ stale: true, changed: ['notes.txt', 'added.patch'] });
  });

  it('fails in one line on a package the channel does not serve, and leaves no scratch folder', async () => {
    const before = readdirSync(tmpdir()).filter((name) => name.startsWith('forge-stale-')).length;
    const error = await checkFreshness(frontPython(repoRoot), url, 'noarch/missing-1.0-h0_0.conda', {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForgeError);
    expect((error as ForgeError).message).toBe(`cannot download ${url}/noarch/missing-1.0-h0_0.conda to check it: HTTP 404`);
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith('forge-stale-')).length).toBe(before);
  });

  it('says how to publish a changed recipe', () => {
    expect(staleMessage('lib', 'py3.12', 'noarch/lib-1.0-h0_0.conda', 'file:///c', ['recipe.yaml', 'fix.patch'])).toBe(
      'lib:py3.12: file:///c already has noarch/lib-1.0-h0_0.conda, built from a different recipe (changed: recipe.yaml, fix.patch); bump build.number in the recipe to publish the change',
    );
  });
});
