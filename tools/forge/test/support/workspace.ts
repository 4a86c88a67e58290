import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { compileCache } from '../../src/engine/compile-cache.js';
import { forgeBin, nxBin, repoRoot } from './paths.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A throwaway workspace with the repo's node_modules, for running Nx and forge as a user would. */
export class TempWorkspace {
  readonly root: string;

  constructor(files: Record<string, string> = {}, options: { copyRecipes?: boolean } = {}) {
    this.root = mkdtempSync(join(tmpdir(), 'forge-ws-'));
    this.rattlerCache = `${this.root}.rattler-cache`;
    symlinkSync(join(repoRoot, 'node_modules'), join(this.root, 'node_modules'), 'dir');
    cpSync(join(repoRoot, 'nx.json'), join(this.root, 'nx.json'));
    if (options.copyRecipes) {
      cpSync(join(repoRoot, 'pkgs'), join(this.root, 'pkgs'), { recursive: true });
      cpSync(join(repoRoot, 'variants.yaml'), join(this.root, 'variants.yaml'));
    }
    for (const [path, text] of Object.entries(files)) this.write(path, text);
  }

  write(path: string, text: string): void {
    mkdirSync(dirname(join(this.root, path)), { recursive: true });
    writeFileSync(join(this.root, path), text);
  }

  /** Rewrites a file of the workspace through a function of its text. */
  edit(path: string, change: (text: string) => string): void {
    this.write(path, change(readFileSync(join(this.root, path), 'utf8')));
  }

  forge(...args: string[]): RunResult {
    return this.run(process.execPath, [forgeBin, ...args]);
  }

  nx(...args: string[]): RunResult {
    return this.run(process.execPath, [nxBin, ...args]);
  }

  /** Nx with extra environment variables (an engine override, say). */
  nxWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): RunResult {
    const result = spawnSync(process.execPath, [nxBin, ...args], { cwd: this.root, encoding: 'utf8', env: { ...this.env(), ...env } });
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  git(...args: string[]): string {
    return execFileSync('git', args, { cwd: this.root, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  }

  run(command: string, args: string[]): RunResult {
    const result = spawnSync(command, args, { cwd: this.root, encoding: 'utf8', env: this.env() });
    return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
  }

  /** Like `forge`/`nx` but without blocking this process, for tests that serve HTTP to the child. */
  forgeAsync(...args: string[]): Promise<RunResult> {
    return this.runAsync(process.execPath, [forgeBin, ...args]);
  }

  nxAsync(...args: string[]): Promise<RunResult> {
    return this.runAsync(process.execPath, [nxBin, ...args]);
  }

  /** Nx without blocking, with extra environment variables. */
  nxAsyncWithEnv(env: NodeJS.ProcessEnv, ...args: string[]): Promise<RunResult> {
    return this.runAsync(process.execPath, [nxBin, ...args], env);
  }

  runAsync(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return this.start(command, args, env).done;
  }

  /** Nx as a running process in a process group of its own, for tests that signal it or its group (as a terminal's Ctrl-C does). */
  nxStart(...args: string[]): { child: ChildProcess; done: Promise<RunResult> } {
    return this.start(process.execPath, [nxBin, ...args], {}, true);
  }

  private start(command: string, args: string[], env: NodeJS.ProcessEnv = {}, detached = false): { child: ChildProcess; done: Promise<RunResult> } {
    const child = spawn(command, args, { cwd: this.root, env: { ...this.env(), ...env }, detached });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    return { child, done: new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))) };
  }

  /**
   * rattler's package cache of this workspace alone. Test files run in parallel
   * and build the same demo file names with other contents (times differ), and
   * rattler's shared cache is not safe for that: an install met another
   * workspace's entry mid-replacement and failed ("hash mismatch ... Failed to
   * resolve dependencies"). A user's two clones building the same file at the
   * same moment would meet the same race (README, on rattler's package cache).
   */
  readonly rattlerCache: string;

  /** The workspace's own compile cache: a test never reads or fills the machine's (~/.cache/wv-forge/sccache). */
  get compileCacheDir(): string {
    return `${this.root}.sccache`;
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORCE_COLOR: '0', RATTLER_CACHE_DIR: this.rattlerCache, FORGE_COMPILE_CACHE_DIR: this.compileCacheDir };
  }

  dispose(): void {
    // Its sccache server would otherwise wait out its idle timeout (10 minutes) on the shared machine.
    const cache = compileCache(repoRoot, this.env());
    if (!('off' in cache)) spawnSync(cache.sccache, ['--stop-server'], { env: { ...process.env, ...cache.env }, stdio: 'ignore' });
    rmSync(this.root, { recursive: true, force: true });
    rmSync(this.rattlerCache, { recursive: true, force: true });
    rmSync(this.compileCacheDir, { recursive: true, force: true });
  }
}
