import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCacheServer } from '../src/cache-server/server.js';
import { compileCache, compileCacheEnv, readStats, statsSince, stopServer, usableCache, type CompileCache } from '../src/engine/compile-cache.js';
import { repoRoot } from './support/paths.js';
import { localPipIndex, wheelWorkspace } from './support/wheels.js';
import { TempWorkspace } from './support/workspace.js';

const exec = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'forge-compile-cache-test-'));
const cacheDir = join(scratch, 'sccache');
const cacheEnv = { FORGE_COMPILE_CACHE_DIR: cacheDir };
const host = execFileSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
const nvcc = '/usr/local/cuda/bin/nvcc';

function cacheOf(env: NodeJS.ProcessEnv): CompileCache {
  const cache = compileCache(repoRoot, { ...process.env, ...env });
  if ('off' in cache) throw new Error(`no compile cache: ${cache.off}`);
  return cache;
}

/** The `compile cache: N hits, M misses` line of a wheel task's log. */
function cacheLine(stdout: string): { hits: number; misses: number } {
  const match = /compile cache: (\d+) hits, (\d+) misses/.exec(stdout);
  if (!match) throw new Error(`no compile cache line in:\n${stdout}`);
  return { hits: Number(match[1]), misses: Number(match[2]) };
}

describe('the compile cache: sccache under wheel builds', { timeout: 400_000 }, () => {
  let ws: TempWorkspace;
  beforeAll(() => {
    ws = wheelWorkspace(localPipIndex(scratch));
    ws.write('variants.yaml', `python:\n  - "${host}"\n`);
  });
  afterAll(async () => {
    await stopServer(cacheOf(cacheEnv));
    ws.dispose();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('compiles a C extension once: a rebuild after an edit to its metadata takes the object from the cache', () => {
    const task = `demo-wheel:wheel-py${host}`;
    const first = ws.nxWithEnv(cacheEnv, 'run', task, '--output-style=stream');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain(`compile cache: sccache, ${cacheDir}`);
    expect(cacheLine(first.stdout)).toEqual({ hits: 0, misses: 1 });

    // Metadata only: the content key changes (a new build), the C source does not.
    ws.edit('pkgs/demo-wheel/src/pyproject.toml', (text) => `${text}\n# edited\n`);
    const second = ws.nxWithEnv(cacheEnv, 'run', task, '--output-style=stream');
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(/built .* in /);
    expect(cacheLine(second.stdout)).toEqual({ hits: 1, misses: 0 });
    // The wheel works: the task's own test imported the cached object.
    expect(second.stdout).toContain(`[demo-wheel:py${host} test] import demo_wheel: ok`);
  });

  it('is off when asked, and the build still works', () => {
    const task = `demo-wheel:wheel-py${host}`;
    ws.edit('pkgs/demo-wheel/src/pyproject.toml', (text) => `${text}\n# edited again\n`);
    const run = ws.nxWithEnv({ ...cacheEnv, FORGE_COMPILE_CACHE: 'off' }, 'run', task, '--output-style=stream');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('compile cache off: FORGE_COMPILE_CACHE=off');
    expect(run.stdout).not.toMatch(/compile cache: \d+ hits/);
  });

  it('gives each build system its variables: launchers for CMake, CC/CXX scripts and PYTORCH_NVCC for setuptools and torch', async () => {
    const cache = cacheOf(cacheEnv);
    const plain = join(scratch, 'plain');
    const cmake = join(scratch, 'cmake');
    mkdirSync(plain, { recursive: true });
    mkdirSync(cmake, { recursive: true });
    writeFileSync(join(cmake, 'CMakeLists.txt'), 'project(x)\n');

    const cpu = await compileCacheEnv(cache, { buildDir: plain, env: process.env });
    expect(cpu.CC).toMatch(new RegExp(`^${cacheDir}/launchers/`));
    expect(cpu.CXX).toMatch(new RegExp(`^${cacheDir}/launchers/`));
    expect(cpu.PYTORCH_NVCC).toBeUndefined();
    // The launcher is a real compiler for whoever runs it.
    expect(execFileSync(cpu.CC!, ['--version'], { encoding: 'utf8', env: { ...process.env, ...cpu } })).toMatch(/Free Software Foundation|clang/);

    const cuda = await compileCacheEnv(cache, { buildDir: plain, nvcc, env: process.env });
    expect(cuda.CC).toBeUndefined(); // torch passes CC to nvcc as -ccbin
    expect(cuda.PYTORCH_NVCC).toBe(`${cache.sccache} ${nvcc}`);

    const viaCmake = await compileCacheEnv(cache, { buildDir: cmake, nvcc, env: process.env });
    expect([viaCmake.CMAKE_C_COMPILER_LAUNCHER, viaCmake.CMAKE_CXX_COMPILER_LAUNCHER, viaCmake.CMAKE_CUDA_COMPILER_LAUNCHER]).toEqual([cache.sccache, cache.sccache, cache.sccache]);
    expect(viaCmake.CC).toBeUndefined();
    expect(viaCmake.CXX).toBeUndefined();
  });

  // Needs the CUDA toolkit this machine has at /usr/local/cuda (no GPU: compiling needs none).
  it.runIf(existsSync(nvcc))('caches nvcc stage by stage: the same kernel compiled again is all hits', async () => {
    const cache = cacheOf(cacheEnv);
    const dir = join(scratch, 'cuda');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'k.cu'), '__global__ void add(float* a, float b) { a[threadIdx.x] += b; }\nvoid launch(float* a) { add<<<1, 32>>>(a, 1.0f); }\n');
    const { PYTORCH_NVCC } = await compileCacheEnv(cache, { buildDir: dir, nvcc, env: process.env });
    const [launcher, ...command] = PYTORCH_NVCC!.split(' ');
    const compile = () => execFileSync(launcher!, [...command, '-gencode', 'arch=compute_90,code=sm_90', '-c', 'k.cu', '-o', 'k.o'], { cwd: dir, env: { ...process.env, ...cache.env } });
    const before = (await readStats(cache))!;
    compile();
    const middle = (await readStats(cache))!;
    compile();
    const after = (await readStats(cache))!;
    const cold = statsSince(before, middle);
    const warm = statsSince(middle, after);
    expect(cold.hits).toEqual({});
    expect(Object.keys(cold.misses)).toEqual(expect.arrayContaining(['CUDA', 'PTX', 'CUBIN']));
    expect(warm.misses).toEqual({});
    expect(warm.hits.CUDA).toBe(1);
  });
});

describe('the compile cache on the cache server: sccache\'s WebDAV backend, main writes, others read', { timeout: 120_000 }, () => {
  const dir = join(scratch, 'shared');
  let server: Server;
  let url: string;
  const started: CompileCache[] = [];
  beforeAll(async () => {
    server = createCacheServer({ dir: join(dir, 'server'), readWriteTokens: ['ci-token'], readOnlyTokens: ['dev-token'] });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sccache/`;
    mkdirSync(join(dir, 'src'), { recursive: true });
    writeFileSync(join(dir, 'src/shared.c'), 'int shared(int x) { return x * 3; }\n');
    writeFileSync(join(dir, 'src/mine.c'), 'int mine(int x) { return x * 5; }\n');
  });
  afterAll(async () => {
    for (const cache of started) await stopServer(cache);
    await new Promise((resolve) => server.close(resolve));
  });

  const sharedCache = (token: string) => {
    const cache = cacheOf({ FORGE_COMPILE_CACHE_DIR: join(dir, `local-${token}`), FORGE_COMPILE_CACHE_URL: url, FORGE_COMPILE_CACHE_TOKEN: token });
    started.push(cache);
    return cache;
  };
  const compile = async (cache: CompileCache, file: string) => {
    const before = (await readStats(cache))!;
    // Not execFileSync: the cache server under test answers from this process's event loop.
    await exec(cache.sccache, ['cc', '-c', file, '-o', `${file}.${Math.random().toString(36).slice(2)}.o`], { cwd: join(dir, 'src'), env: { ...process.env, ...cache.env } });
    return statsSince(before, (await readStats(cache))!);
  };
  const stored = () => readdirSync(join(dir, 'server/.sccache'), { recursive: true }).map(String).filter((f) => /[0-9a-f]{64}$/.test(f));

  it('stores what CI compiles, and a developer\'s build takes it from there without writing', async () => {
    const ci = sharedCache('ci-token');
    expect(await compile(ci, 'shared.c')).toEqual({ hits: {}, misses: { 'C/C++': 1 } });
    expect(stored()).toHaveLength(1);

    const dev = sharedCache('dev-token');
    expect(await compile(dev, 'shared.c')).toEqual({ hits: { 'C/C++': 1 }, misses: {} });
    // A developer's own object is compiled, and the server refuses it: only main's CI writes.
    expect(await compile(dev, 'mine.c')).toEqual({ hits: {}, misses: { 'C/C++': 1 } });
    expect(stored()).toHaveLength(1);
  });

  it('falls back to the local cache, saying why, where the backend refuses the token or is down', async () => {
    const warnings: string[] = [];
    const refused = await usableCache(cacheOf({ FORGE_COMPILE_CACHE_DIR: join(dir, 'local-bad'), FORGE_COMPILE_CACHE_URL: url, FORGE_COMPILE_CACHE_TOKEN: 'stolen' }), repoRoot, (line) => warnings.push(line), { ...process.env, FORGE_COMPILE_CACHE_DIR: join(dir, 'local-bad'), FORGE_COMPILE_CACHE_URL: url, FORGE_COMPILE_CACHE_TOKEN: 'stolen' });
    expect(refused.url).toBeUndefined();
    expect(refused.env.SCCACHE_DIR).toBe(join(dir, 'local-bad'));
    expect(warnings).toEqual([`compile cache ${url}: HTTP 401 (FORGE_COMPILE_CACHE_TOKEN missing or unknown); using the local cache ${join(dir, 'local-bad')}`]);
    started.push(refused);
    expect(await compile(refused, 'mine.c')).toEqual({ hits: {}, misses: { 'C/C++': 1 } });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const down = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/sccache/`;
    await new Promise((resolve) => closed.close(resolve));
    const downEnv = { ...process.env, FORGE_COMPILE_CACHE_DIR: join(dir, 'local-down'), FORGE_COMPILE_CACHE_URL: down };
    const fallback = await usableCache(cacheOf(downEnv), repoRoot, (line) => warnings.push(line), downEnv);
    expect(fallback.url).toBeUndefined();
    expect(warnings[1]).toMatch(new RegExp(`^compile cache ${down}: .*ECONNREFUSED.*; using the local cache`));
  });
});

/**
 * A conda recipe that opts in: rattler-build passes a build script only the
 * variables its recipe lists under secrets. It compiles in its work folder
 * with debug information, as a real build does: the folder is in the object.
 */
const recipe = (note: string) => `package: {name: cc-probe, version: "1.0"}
build:
  noarch: generic
  script:
    secrets: [SCCACHE_DIR, SCCACHE_SERVER_UDS, SCCACHE_IGNORE_SERVER_IO_ERROR, CMAKE_C_COMPILER_LAUNCHER]
    content:
      - echo "${note}"
      - cp $RECIPE_DIR/probe.c .
      - $CMAKE_C_COMPILER_LAUNCHER cc -g -O2 -c probe.c -o probe.o
      - mkdir -p $PREFIX/share/cc-probe && cp probe.o $PREFIX/share/cc-probe/
`;

describe('the compile cache under conda builds (rattler-build)', { timeout: 300_000 }, () => {
  const dir = join(scratch, 'conda-cache');
  let ws: TempWorkspace;
  beforeAll(() => {
    ws = new TempWorkspace({
      'variants.yaml': 'python: ["3.12"]\n',
      'pkgs/cc-probe/recipe/recipe.yaml': recipe('first'),
      'pkgs/cc-probe/recipe/probe.c': 'int probe(int x) { return x * 11; }\n',
      '.empty/noarch/repodata.json': JSON.stringify({ info: { subdir: 'noarch' }, packages: {}, 'packages.conda': {}, repodata_version: 1 }),
    });
    ws.edit('nx.json', (text) => text.replace('"targetPlatform": "linux-64"', '"targetPlatform": "linux-64", "channels": ["./.empty"], "artifactChannels": []'));
  });
  afterAll(async () => {
    await stopServer(cacheOf({ FORGE_COMPILE_CACHE_DIR: dir }));
    ws.dispose();
  });

  it('reaches a recipe that lists its variables under build.script.secrets: a rebuild after an edit compiles nothing', () => {
    const build = () => ws.nxWithEnv({ FORGE_COMPILE_CACHE_DIR: dir }, 'run', 'cc-probe:build-noarch', '--output-style=stream');
    const first = build();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(cacheLine(first.stdout)).toEqual({ hits: 0, misses: 1 });
    ws.write('pkgs/cc-probe/recipe/recipe.yaml', recipe('second'));
    const second = build();
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toContain('second');
    expect(cacheLine(second.stdout)).toEqual({ hits: 1, misses: 0 });
  });
});
