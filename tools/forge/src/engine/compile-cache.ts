import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { ForgeError } from '../errors.js';
import { writeFileAtomic } from '../json-file.js';
import { embeddedPython } from './engine.js';
import { findOnPath } from './toolchain.js';

const exec = promisify(execFile);

/**
 * The compile cache wheel and conda builds run their compilers through:
 * sccache (C, C++ and nvcc, whose stages it caches one by one: cudafe++,
 * cicc, ptxas and the host compile). It is local by default, one folder per
 * machine shared by every variant and workspace; FORGE_COMPILE_CACHE_URL
 * points it at a shared WebDAV backend instead (forge's cache server serves
 * one). It never enters a content key: an object comes out of it only for
 * the same compiler, arguments and preprocessed input, so a hit is the
 * object the compiler would have written, and a miss (or a cache that is
 * down) only costs the compile.
 */
export interface CompileCache {
  readonly sccache: string;
  /** The local cache folder (also when a shared backend is set: sccache keeps its launchers there). */
  readonly dir: string;
  /** The shared backend's WebDAV endpoint, if any. */
  readonly url?: string;
  /** Variables every sccache call of this cache needs: where the cache is, which server serves it. */
  readonly env: Readonly<Record<string, string>>;
}

export const COMPILE_CACHE_ENV = 'FORGE_COMPILE_CACHE';
export const COMPILE_CACHE_DIR_ENV = 'FORGE_COMPILE_CACHE_DIR';
export const COMPILE_CACHE_URL_ENV = 'FORGE_COMPILE_CACHE_URL';
export const COMPILE_CACHE_TOKEN_ENV = 'FORGE_COMPILE_CACHE_TOKEN';

/** `NAME=off` (or 0, false) as set, where the variable `name` switches something off; undefined where it does not. */
export function switchedOff(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = (env[name] ?? '').toLowerCase();
  return setting === 'off' || setting === '0' || setting === 'false' ? `${name}=${env[name]}` : undefined;
}

/**
 * Variables compilers read that no command line shows (include and library
 * paths, flags nvcc appends): a kept build tree is reused only under the same
 * ones (store/build-trees.ts).
 */
export const COMPILER_VARIABLES = ['PATH', 'CPATH', 'C_INCLUDE_PATH', 'CPLUS_INCLUDE_PATH', 'LIBRARY_PATH', 'NVCC_APPEND_FLAGS', 'NVCC_PREPEND_FLAGS', 'NVCC_CCBIN', 'CUDAHOSTCXX', 'CC', 'CXX', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS', 'SOURCE_DATE_EPOCH'] as const;

/**
 * The compile cache this machine's builds use, or why there is none:
 * FORGE_COMPILE_CACHE=off turns it off, and a machine without sccache (the
 * tools venv has it after `npm run setup:engine`) builds uncached.
 */
export function compileCache(root: string, env: NodeJS.ProcessEnv = process.env): CompileCache | { readonly off: string } {
  const off = switchedOff(COMPILE_CACHE_ENV, env);
  if (off) return { off };
  const sccache = findSccache(root, env);
  if (!sccache) return { off: 'no sccache (run `npm run setup:engine`, or put sccache on PATH or in FORGE_SCCACHE)' };
  const dir = env[COMPILE_CACHE_DIR_ENV] || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wv-forge', 'sccache');
  if (!isAbsolute(dir)) throw new ForgeError(`${COMPILE_CACHE_DIR_ENV}=${dir}: must be an absolute path`);
  const url = env[COMPILE_CACHE_URL_ENV] || undefined;
  if (url && !/^https?:\/\//.test(url)) throw new ForgeError(`${COMPILE_CACHE_URL_ENV}=${url}: must be an http(s) URL of a WebDAV endpoint (e.g. the cache server's http://host:port/sccache/)`);
  const token = env[COMPILE_CACHE_TOKEN_ENV];
  const cacheEnv: Record<string, string> = {
    // One server per cache: sccache fixes a server's cache at its start, so
    // two configurations on one machine (tests, two backends) must not share one.
    SCCACHE_SERVER_UDS: join(tmpdir(), `wv-forge-sccache-${hash(`${dir}\n${url ?? ''}\n${token ?? ''}`)}.sock`),
    // A server that cannot be reached means the compiler runs uncached, not a failed build.
    SCCACHE_IGNORE_SERVER_IO_ERROR: '1',
  };
  if (url) {
    cacheEnv.SCCACHE_WEBDAV_ENDPOINT = url;
    if (token) cacheEnv.SCCACHE_WEBDAV_TOKEN = token;
  } else {
    cacheEnv.SCCACHE_DIR = dir;
  }
  return { sccache, dir, ...(url ? { url } : {}), env: cacheEnv };
}

/**
 * The cache a build should use: a shared backend that refuses the token or
 * cannot be reached would stop sccache's server from starting, and with it
 * every compile, so it is asked first (a read of sccache's own probe entry);
 * where it fails the build goes on with the local cache, and `warn` says why.
 */
export async function usableCache(cache: CompileCache, root: string, warn: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<CompileCache> {
  if (!cache.url) return cache;
  let problem: string | undefined;
  try {
    const token = env[COMPILE_CACHE_TOKEN_ENV];
    const response = await fetch(new URL('.sccache_check', cache.url.endsWith('/') ? cache.url : `${cache.url}/`), {
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      signal: AbortSignal.timeout(5_000),
    });
    if (response.status !== 200 && response.status !== 404) problem = `HTTP ${response.status}${response.status === 401 ? ` (${COMPILE_CACHE_TOKEN_ENV} missing or unknown)` : ''}`;
  } catch (error) {
    problem = (error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message;
  }
  if (problem === undefined) return cache;
  warn(`compile cache ${cache.url}: ${problem}; using the local cache ${cache.dir}`);
  const local = compileCache(root, { ...env, [COMPILE_CACHE_URL_ENV]: '' });
  return 'off' in local ? cache : local;
}

function findSccache(root: string, env: NodeJS.ProcessEnv): string | undefined {
  if (env.FORGE_SCCACHE) {
    // Checked here: a launcher that execs a missing sccache fails the build at its first compile or link, far from the cause.
    const given = isAbsolute(env.FORGE_SCCACHE) ? (existsSync(env.FORGE_SCCACHE) ? env.FORGE_SCCACHE : undefined) : findOnPath(env.FORGE_SCCACHE, env.PATH);
    if (!given) throw new ForgeError(`FORGE_SCCACHE=${env.FORGE_SCCACHE}: no such ${isAbsolute(env.FORGE_SCCACHE) ? 'file' : 'command on PATH'} (an sccache binary; unset, forge uses the tools venv's)`);
    return given;
  }
  const python = embeddedPython(root);
  const beside = python ? join(dirname(python), 'sccache') : undefined;
  if (beside && existsSync(beside)) return beside;
  return findOnPath('sccache');
}

/**
 * Where a build's compilers run: this machine, or a build container that
 * mounts the cache folder at its host path and runs its own sccache server
 * (the image's sccache, its socket inside the container).
 */
export interface CompilerSite {
  /** The cache as commands there see it (sccache's path, the server's socket); the cache itself on this machine. */
  view(cache: CompileCache): CompileCache;
  /** A compiler as PATH finds it there, and its real file (symlinks resolved); undefined when there is none. */
  findCompiler(compiler: string, path: string | undefined): Promise<{ readonly path: string; readonly real: string } | undefined>;
  /** Runs a command there; its stdout (rejects on a failure). */
  output(command: string, args: readonly string[], env: Readonly<Record<string, string>>): Promise<string>;
  /** The server goes when the build does (a container's): stop it after the build, so its last writes land. */
  readonly ownServer: boolean;
}

/** This machine: compilers on its PATH, one sccache server per cache that outlives the build. */
export const THIS_MACHINE: CompilerSite = {
  view: (cache) => cache,
  findCompiler: async (compiler, path) => {
    const found = isAbsolute(compiler) ? compiler : findOnPath(compiler, path);
    return found && existsSync(found) ? { path: found, real: realpathSync(found) } : undefined;
  },
  output: async (command, args, env) => (await exec(command, [...args], { env: { ...process.env, ...env }, maxBuffer: 16 << 20 })).stdout,
  ownServer: false,
};

/** What a build needs to know to route its compilers through the cache. */
export interface CompiledBuild {
  /** The folder the build runs in: a CMakeLists.txt there means CMake's launchers. */
  readonly buildDir: string;
  /** The CUDA toolkit's nvcc, when the variant has CUDA. */
  readonly nvcc?: string | undefined;
  /** The build's environment, for the compilers it would use (CC, CXX, PATH). */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * The variables that put a build's compilers behind the cache, as its build
 * system reads them:
 * - CMake (a CMakeLists.txt in the build folder, scikit-build-core included):
 *   CMAKE_{C,CXX,CUDA}_COMPILER_LAUNCHER.
 * - setuptools and torch's cpp_extension: CC and CXX as small launcher
 *   scripts (setuptools runs CC through a shell-word split, torch checks CXX is
 *   an existing gcc/clang: a script named after the real compiler passes both),
 *   and PYTORCH_NVCC, which torch writes into its ninja file as the nvcc command.
 *   CC stays the real compiler for CUDA variants: torch hands CC to nvcc as
 *   `-ccbin`, and sccache refuses an nvcc whose host compiler is sccache
 *   again (it caches nvcc's host compile itself).
 */
export async function compileCacheEnv(cache: CompileCache, build: CompiledBuild, site: CompilerSite = THIS_MACHINE): Promise<Record<string, string>> {
  const env: Record<string, string> = { ...cache.env };
  if (existsSync(join(build.buildDir, 'CMakeLists.txt'))) {
    env.CMAKE_C_COMPILER_LAUNCHER = cache.sccache;
    env.CMAKE_CXX_COMPILER_LAUNCHER = cache.sccache;
    if (build.nvcc) env.CMAKE_CUDA_COMPILER_LAUNCHER = cache.sccache;
    return env;
  }
  const cxx = await launcher(cache, build.env.CXX || 'c++', build.env, site);
  if (cxx) env.CXX = cxx;
  if (!build.nvcc) {
    const cc = await launcher(cache, build.env.CC || 'cc', build.env, site);
    if (cc) env.CC = cc;
  } else {
    env.PYTORCH_NVCC = `${cache.sccache} ${build.nvcc}`;
  }
  return env;
}

/**
 * A script that runs `compiler` through sccache, named after the compiler's
 * real file (`x86_64-linux-gnu-g++-12`) so tools that judge a compiler by its
 * name still recognise it; undefined for a compiler given with flags
 * (`CC="gcc -m32"`) or not found, which then runs uncached. Written once per
 * (sccache, compiler) pair, atomically, so concurrent builds share it; in
 * the cache folder, which a build container mounts at the same path, with the
 * container's sccache and compiler in it.
 */
async function launcher(cache: CompileCache, compiler: string, env: NodeJS.ProcessEnv, site: CompilerSite): Promise<string | undefined> {
  if (/\s/.test(compiler)) return undefined;
  const found = await site.findCompiler(compiler, env.PATH);
  if (!found) return undefined;
  const script = `#!/bin/sh\n# wv-forge: ${found.path} through the compile cache\nexec ${quote(cache.sccache)} ${quote(found.path)} "$@"\n`;
  const file = join(cache.dir, 'launchers', hash(script), basename(found.real));
  if (!existsSync(file)) writeFileAtomic(file, script, 0o755);
  return file;
}

/**
 * The variables a conda build's engine gets: rattler-build hands a build
 * script none of its own environment but the names a recipe lists under
 * `build.script.secrets`, so a recipe opts in by listing these (README: the
 * compile cache); CMake picks the launchers up from the environment.
 */
export function engineCacheEnv(cache: CompileCache): Record<string, string> {
  return { ...cache.env, CMAKE_C_COMPILER_LAUNCHER: cache.sccache, CMAKE_CXX_COMPILER_LAUNCHER: cache.sccache, CMAKE_CUDA_COMPILER_LAUNCHER: cache.sccache };
}

/**
 * The compile cache builds use now, after saying which one, or undefined
 * (after saying why) when it is off. A container mounts its folder.
 */
export async function openCompileCache(root: string, log: (line: string) => void): Promise<CompileCache | undefined> {
  const found = compileCache(root);
  if ('off' in found) {
    log(`compile cache off: ${found.off}`);
    return undefined;
  }
  const cache = await usableCache(found, root, log);
  log(`compile cache: sccache, ${cache.url ?? cache.dir}`);
  return cache;
}

/** A build's use of the compile cache: its variables, and what to do once the build ran. */
export interface CacheUse {
  readonly env: Record<string, string>;
  /** Logs the build's hits and misses. */
  report(): Promise<void>;
  /** Stops a server that goes with the build (a container's); nothing on this machine. */
  close(): Promise<void>;
}

/**
 * The variables that put one build (wheel, or conda's `engine`) behind the
 * cache where its compilers run, and `report`, which logs its hits and
 * misses once it ran (reusing the site's server counters from before).
 */
export async function useCompileCache(cache: CompileCache, build: CompiledBuild | 'engine', site: CompilerSite, log: (line: string) => void): Promise<CacheUse> {
  const there = site.view(cache);
  const before = await readStats(there, site);
  const env = build === 'engine' ? engineCacheEnv(there) : await compileCacheEnv(there, build, site);
  return {
    env,
    report: async () => {
      const after = before && (await readStats(there, site));
      if (before && after) log(`compile cache: ${describeStats(statsSince(before, after))}`);
    },
    close: async () => {
      if (site.ownServer) await stopServer(there, site);
    },
  };
}

/** The compile cache for a build on this machine (conda's engine): `openCompileCache` and `useCompileCache` in one. */
export async function compileCacheForBuild(root: string, build: CompiledBuild | 'engine', log: (line: string) => void): Promise<{ env: Record<string, string>; report: () => Promise<void> }> {
  const cache = await openCompileCache(root, log);
  if (!cache) return { env: {}, report: async () => {} };
  return useCompileCache(cache, build, THIS_MACHINE, log);
}

/** Hits and misses of one build, by sccache's language names (`C/C++`, `CUDA`, `PTX`, `CUBIN`, ...). */
export interface CompileCacheStats {
  readonly hits: Readonly<Record<string, number>>;
  readonly misses: Readonly<Record<string, number>>;
}

interface SccacheStats {
  readonly stats: {
    readonly cache_hits: { readonly counts: Record<string, number> };
    readonly cache_misses: { readonly counts: Record<string, number> };
  };
}

/** The server's counters now (starting it if needed), or undefined when sccache cannot answer. */
export async function readStats(cache: CompileCache, site: CompilerSite = THIS_MACHINE): Promise<CompileCacheStats | undefined> {
  try {
    const { stats } = JSON.parse(await site.output(cache.sccache, ['--show-stats', '--stats-format', 'json'], cache.env)) as SccacheStats;
    return { hits: stats.cache_hits.counts, misses: stats.cache_misses.counts };
  } catch {
    return undefined;
  }
}

/** What happened between two readings: one build's share, when no other build used the server meanwhile. */
export function statsSince(before: CompileCacheStats, after: CompileCacheStats): CompileCacheStats {
  const diff = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) =>
    Object.fromEntries(Object.entries(b).map(([k, v]) => [k, v - (a[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
  return { hits: diff(before.hits, after.hits), misses: diff(before.misses, after.misses) };
}

/** `12 hits, 3 misses (C/C++ 10/1, CUDA 2/2)`. */
export function describeStats(stats: CompileCacheStats): string {
  const total = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, b) => a + b, 0);
  const languages = [...new Set([...Object.keys(stats.hits), ...Object.keys(stats.misses)])].sort();
  const detail = languages.map((language) => `${language} ${stats.hits[language] ?? 0}/${stats.misses[language] ?? 0}`).join(', ');
  return `${total(stats.hits)} hits, ${total(stats.misses)} misses${detail ? ` (hits/misses: ${detail})` : ''}`;
}

/** Stops this cache's sccache server (a container's before it goes; tests, and benches that measure a cold start). */
export async function stopServer(cache: CompileCache, site: CompilerSite = THIS_MACHINE): Promise<void> {
  await site.output(cache.sccache, ['--stop-server'], cache.env).catch(() => undefined);
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
