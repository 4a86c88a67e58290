import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMBEDDED_FRONT, embeddedPython } from '../src/engine/engine.js';
import { repoRoot } from './support/paths.js';
import { TempWorkspace } from './support/workspace.js';

const EMPTY_INDEX = JSON.stringify({ info: { subdir: 'noarch' }, packages: {}, 'packages.conda': {}, repodata_version: 1 });

/** pc-lib ships `value` and its test expects it, so a test read from an older build fails on the new content. */
const lib = (value: string) => `package: {name: pc-lib, version: "1.0"}
build:
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/pc-lib
    - echo ${value} > $PREFIX/share/pc-lib/value.txt
tests:
  - script:
      - echo "pc-lib test expects ${value}"
      - grep -qx ${value} $PREFIX/share/pc-lib/value.txt
`;

/** Installing pc-lib in its host environment is what puts pc-lib in rattler's package cache. */
const APP = `package: {name: pc-app, version: "1.0"}
build:
  noarch: generic
  script:
    - mkdir -p $PREFIX/share/pc-app
    - echo "pc-app built against $(cat $PREFIX/share/pc-lib/value.txt)"
    - cp $PREFIX/share/pc-lib/value.txt $PREFIX/share/pc-app/
requirements:
  host: [pc-lib]
`;

/**
 * An edit that keeps a package's file name (the build string hashes only the
 * variant) must be tested, and used downstream, as rebuilt, not as rattler's
 * package cache last extracted it. The engine's test step looks its package up
 * in that cache by file name alone; see tools/forge/python/forge_pkg_cache.py.
 */
describe('a package rebuilt under the same file name', () => {
  const cache = mkdtempSync(join(tmpdir(), 'forge-rattler-cache-'));
  let ws: TempWorkspace;
  // A private rattler cache: the test sees only what its own builds put there.
  const build = () => {
    const result = ws.nxWithEnv({ RATTLER_CACHE_DIR: cache }, 'run-many', '-t', 'build', '--parallel=1', '--output-style=stream');
    return { code: result.code, out: result.stdout + result.stderr };
  };
  beforeAll(() => {
    ws = new TempWorkspace({
      'variants.yaml': 'python: ["3.12"]\n',
      'pkgs/pc-lib/recipe/recipe.yaml': lib('one'),
      'pkgs/pc-app/recipe/recipe.yaml': APP,
      '.empty/noarch/repodata.json': EMPTY_INDEX,
    });
    ws.edit('nx.json', (text) => text.replace('"targetPlatform": "linux-64"', '"targetPlatform": "linux-64", "channels": ["./.empty"], "artifactChannels": []'));
  });
  afterAll(() => {
    ws.dispose();
    rmSync(cache, { recursive: true, force: true });
  });

  it('runs the new test and gives downstream builds the new files', () => {
    const first = build();
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain('pc-app built against one');
    expect(existsSync(join(cache, 'pkgs', 'pc-lib-1.0-h4616a5c_0')), 'pc-app installed pc-lib through the cache').toBe(true);

    ws.write('pkgs/pc-lib/recipe/recipe.yaml', lib('two'));
    const second = build();
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain("pc-lib:noarch: removed the previous pc-lib-1.0-h4616a5c_0 from rattler's package cache");
    expect(second.out).toContain('pc-lib test expects two');
    expect(second.out).not.toContain('pc-lib test expects one');
    expect(second.out).toContain('pc-app built against two');
  });
});

/** A process's output so far, and a way to wait for a piece of it. */
function watch(child: ReturnType<typeof spawn>) {
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  const until = async (piece: string) => {
    while (!text.includes(piece)) {
      if (child.exitCode !== null) throw new Error(`exited before printing ${piece}: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { until, exited, text: () => text };
}

describe('evicting from the package cache', () => {
  it('removes only the named entries, and waits while an installation holds rattler\'s cache lock', async () => {
    const python = embeddedPython(repoRoot)!;
    const cache = mkdtempSync(join(tmpdir(), 'forge-rattler-cache-'));
    const pkgs = join(cache, 'pkgs');
    try {
      for (const entry of ['pc-lib-1.0-h4616a5c_0', 'python-3.12.0-h0b0af10_0']) mkdirSync(join(pkgs, entry, 'info'), { recursive: true });
      // What rattler's installer does for a whole installation: an exclusive flock on pkgs/.cache.lock.
      const install = spawn(python, ['-c', 'import fcntl, sys; f = open(sys.argv[1], "a+b"); fcntl.flock(f, fcntl.LOCK_EX); print("held", flush=True); sys.stdin.read()', join(pkgs, '.cache.lock')]);
      const installing = watch(install);
      await installing.until('held');

      const evict = watch(spawn(python, [EMBEDDED_FRONT, 'evict-cache', 'noarch/pc-lib-1.0-h4616a5c_0.conda', 'noarch/pc-app-1.0-h4616a5c_0.conda'], { env: { ...process.env, RATTLER_CACHE_DIR: cache } }));
      await evict.until("waiting for rattler's package cache lock");
      expect(existsSync(join(pkgs, 'pc-lib-1.0-h4616a5c_0'))).toBe(true);

      install.stdin!.end();
      expect(await evict.exited, evict.text()).toBe(0);
      expect(evict.text()).toContain('["pc-lib-1.0-h4616a5c_0"]');
      expect(readdirSync(pkgs).sort()).toEqual(['.cache.lock', 'python-3.12.0-h0b0af10_0']);
      await installing.exited;
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
