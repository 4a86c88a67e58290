import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCache, compileCacheEnv, readStats, statsSince, stopServer, type CompileCache } from '../src/engine/compile-cache.js';
import { repoRoot } from './support/paths.js';
import { localPipIndex, wheelWorkspace } from './support/wheels.js';
import type { TempWorkspace } from './support/workspace.js';

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

  it('gives each build system its variables: launchers for CMake, CC/CXX scripts and PYTORCH_NVCC for setuptools and torch', () => {
    const cache = cacheOf(cacheEnv);
    const plain = join(scratch, 'plain');
    const cmake = join(scratch, 'cmake');
    mkdirSync(plain, { recursive: true });
    mkdirSync(cmake, { recursive: true });
    writeFileSync(join(cmake, 'CMakeLists.txt'), 'project(x)\n');

    const cpu = compileCacheEnv(cache, { buildDir: plain, env: process.env });
    expect(cpu.CC).toMatch(new RegExp(`^${cacheDir}/launchers/`));
    expect(cpu.CXX).toMatch(new RegExp(`^${cacheDir}/launchers/`));
    expect(cpu.PYTORCH_NVCC).toBeUndefined();
    // The launcher is a real compiler for whoever runs it.
    expect(execFileSync(cpu.CC!, ['--version'], { encoding: 'utf8' })).toMatch(/Free Software Foundation|clang/);

    const cuda = compileCacheEnv(cache, { buildDir: plain, nvcc, env: process.env });
    expect(cuda.CC).toBeUndefined(); // torch passes CC to nvcc as -ccbin
    expect(cuda.PYTORCH_NVCC).toBe(`${cache.sccache} ${nvcc}`);

    const viaCmake = compileCacheEnv(cache, { buildDir: cmake, nvcc, env: process.env });
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
    const { PYTORCH_NVCC } = compileCacheEnv(cache, { buildDir: dir, nvcc, env: process.env });
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
