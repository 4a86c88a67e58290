import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ForgeError } from '../errors.js';
import type { CompilerSite } from './compile-cache.js';
import { buildArguments, type BuildEnvironment, type BuildRequest, type EnvironmentExtras } from './build-environment.js';
import { caArguments, containerIdentity, IMAGE_PATHS, imageEnv, indexMount, removeContainer, removeContainersAtExit, startTiedContainer, type ImageBuild } from './docker.js';
import { runLogged, type LoggedRun } from './logged-process.js';
import { frontendCommand } from './wheel-env.js';
import { repairArguments, WHEEL_TOOL, wheelToolResult, type RepairResult } from './wheel-tool.js';

/** What the docker environment needs beyond every environment's request. */
export interface DockerRequest extends BuildRequest {
  readonly cuda: string | undefined;
  readonly gpus: boolean;
  /** The variant's image, made (or found) when the task was assessed. */
  readonly image: ImageBuild;
  /** The host's CA bundle, mounted into every container (see docker.ts hostCaBundle). */
  readonly caBundle: string | undefined;
  /** uv's cache on the host, shared by the containers (uv locks it). */
  readonly uvCache: string;
}

/** The image's sccache (its tools venv has it, pinned as the tools venv here) and its server's socket, inside the container. */
const CONTAINER_SCCACHE = `${IMAGE_PATHS.tools}/bin/sccache`;
const CONTAINER_SCCACHE_SOCKET = '/tmp/wv-forge-sccache.sock';

/** Variables whose values stay off command lines. */
const SECRET = /TOKEN|PASSWORD|SECRET/;

interface RunOptions {
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly label: string;
}

/**
 * `docker`: one container of the variant's image per build, started by
 * prepare() and removed by dispose(); every step is a `docker exec` in it,
 * with the build's folders mounted at their host paths. Build
 * requirements and upstream wheels go into an overlay folder of the build
 * (as `host` does beside the machine's Python), so one image serves every
 * project of a (python, cuda, torch).
 */
export class DockerEnvironment implements BuildEnvironment {
  readonly kind = 'docker' as const;
  readonly python = `${IMAGE_PATHS.venv}/bin/python`;
  private extraEnv: Record<string, string> = {};
  private readonly mounts = new Map<string, boolean>();
  private readonly overlay: string;
  private container: string | undefined;

  constructor(private readonly request: DockerRequest) {
    this.overlay = join(request.work, 'overlay');
    this.mount(request.work, false);
    this.mount(request.frontend, true);
    this.mount(dirname(WHEEL_TOOL), true);
    this.mount(request.uvCache, false);
    for (const wheel of request.upstreamWheels) this.mount(dirname(wheel), true);
  }

  extend(extra: EnvironmentExtras): void {
    this.extraEnv = { ...this.extraEnv, ...extra.env };
    for (const mount of extra.mounts ?? []) this.mount(mount.path, mount.readOnly ?? false);
  }

  private mount(path: string, readOnly: boolean): void {
    // A folder mounted writable stays writable if also asked for read-only.
    this.mounts.set(path, (this.mounts.get(path) ?? true) && readOnly);
  }

  async prepare(log: (line: string) => void): Promise<void> {
    const { request } = this;
    mkdirSync(this.overlay, { recursive: true });
    // Docker would make a missing one, as root.
    for (const [path, readOnly] of this.mounts) if (!readOnly) mkdirSync(path, { recursive: true });
    removeContainersAtExit();
    // Not a container per step: starting one costs seconds (a whole copy of the image on the vfs driver).
    const identity = containerIdentity('build');
    await startTiedContainer(identity[1]!, [...identity, ...this.containerArguments()], request.image.tag).catch((error: Error) => {
      throw new ForgeError(`cannot start a container of image ${request.image.tag} (${request.image.base}): ${error.message}`);
    });
    this.container = identity[1]!;
    // torch is the image's (pinned there); installing it again into the overlay would shadow it.
    const install = request.requirements.filter((spec) => !/^torch\b/.test(spec));
    const uv = [`${IMAGE_PATHS.venv}/bin/uv`, 'pip', 'install', '--quiet', '--color', 'never', '--python', this.python, '--target', this.overlay];
    if (install.length) {
      log(`${request.label}: installing ${install.join(', ')} in the container from ${request.index}`);
      const result = await this.run(uv[0]!, [...uv.slice(1), '--index-url', request.index, ...install], { cwd: request.work, label: request.label }, () => undefined);
      if (!result.ok) throw new ForgeError(`cannot install the build requirements in image ${request.image.tag} (${request.image.base}): ${result.tail.slice(-3).join(' / ')}`);
    }
    if (request.upstreamWheels.length) {
      const result = await this.run(uv[0]!, [...uv.slice(1), '--offline', '--no-deps', ...request.upstreamWheels], { cwd: request.work, label: request.label }, () => undefined);
      if (!result.ok) throw new ForgeError(`cannot install the upstream wheels in the container: ${result.tail.slice(-3).join(' / ')}`);
    }
  }

  build(log: (line: string) => void): Promise<LoggedRun> {
    const { request } = this;
    const [command, args] = request.command ? ['sh', ['-c', request.command]] : frontendCommand(this.python, request.frontend, buildArguments(request));
    return this.run(command, args, { cwd: request.source, env: { ...request.env, WHEEL_DIR: request.output, PYTHON: this.python, NO_COLOR: '1' }, label: request.label }, log);
  }

  run(command: string, args: readonly string[], options: RunOptions, log: (line: string) => void): Promise<LoggedRun> {
    const exec = this.dockerExec(command, args, options);
    return runLogged('docker', exec.args, { label: options.label, env: exec.env }, log);
  }

  /**
   * The container: its own sccache server (the image's sccache, a socket in
   * the container's /tmp) on the cache folder mounted at its host path, and
   * the compilers the container's PATH finds. The server is stopped before
   * the container goes, so its last writes land.
   */
  compilerSite(): CompilerSite {
    return {
      view: (cache) => ({ ...cache, sccache: CONTAINER_SCCACHE, env: { ...cache.env, SCCACHE_SERVER_UDS: CONTAINER_SCCACHE_SOCKET } }),
      findCompiler: async (compiler, path) => {
        const found = await this.output('sh', ['-c', 'p=$(command -v "$1") && [ -e "$p" ] && echo "$p" && readlink -f "$p"', 'sh', compiler], path ? { PATH: path } : {}).catch(() => '');
        const [where, real] = found.trim().split('\n');
        return where && real ? { path: where, real } : undefined;
      },
      output: (command, args, env) => this.output(command, args, env),
      ownServer: true,
    };
  }

  private async output(command: string, args: readonly string[], env: Readonly<Record<string, string>>): Promise<string> {
    const { execa } = await import('execa');
    const exec = this.dockerExec(command, args, { cwd: this.request.work, env, label: this.request.label });
    return (await execa('docker', exec.args, { env: exec.env })).stdout;
  }

  async dispose(): Promise<void> {
    if (this.container) await removeContainer(this.container);
    this.container = undefined;
  }

  async repair(wheel: string, outDir: string, excludes: readonly string[]): Promise<RepairResult> {
    mkdirSync(outDir, { recursive: true });
    const { execa } = await import('execa');
    const exec = this.dockerExec(`${IMAGE_PATHS.tools}/bin/python`, [WHEEL_TOOL, ...repairArguments({ wheel, outDir, excludes })], { cwd: this.request.work, label: this.request.label });
    return wheelToolResult<RepairResult>(await execa('docker', exec.args, { reject: false, env: exec.env }));
  }

  async installForTest(target: string, wheels: readonly string[]): Promise<void> {
    const result = await this.run(`${IMAGE_PATHS.venv}/bin/uv`, ['pip', 'install', '--quiet', '--color', 'never', '--offline', '--no-deps', '--python', this.python, '--target', target, ...wheels], { cwd: this.request.work, label: this.request.label }, () => undefined);
    if (!result.ok) throw new ForgeError(`cannot install the built wheel for its test: ${result.tail.at(-1) ?? `exit ${result.exitCode}`}`);
  }

  /** The container's mounts (each at its host path), network, user, GPUs and CA bundle. */
  private containerArguments(): string[] {
    const { request } = this;
    return [
      '--network',
      'host',
      ...this.user(),
      ...(request.gpus ? ['--gpus', 'all'] : []),
      ...[...this.mounts].flatMap(([path, readOnly]) => ['-v', `${path}:${path}${readOnly ? ':ro' : ''}`]),
      ...indexMount(request.index),
      ...caArguments(request.caBundle),
    ];
  }

  /** The host's user, so what the build writes into its folders is the user's to remove (root needs nothing). */
  private user(): string[] {
    return process.getuid && process.getuid() !== 0 ? ['--user', `${process.getuid()}:${process.getgid!()}`] : [];
  }

  /**
   * `docker exec` arguments (the image's variables, the build's, the overlay
   * on the path) and the docker CLI's own environment: a secret (the compile
   * cache's token) goes in by name, its value through that environment, so it
   * is never on a command line that `ps` shows.
   */
  private dockerExec(command: string, args: readonly string[], options: RunOptions): { args: string[]; env: NodeJS.ProcessEnv } {
    const { request } = this;
    if (!this.container) throw new Error('the docker environment runs commands only once prepared');
    const base = imageEnv({ cuda: request.cuda });
    const env: Record<string, string> = {
      ...base,
      HOME: join(request.work, 'home'),
      UV_CACHE_DIR: request.uvCache,
      PYTHONPATH: this.overlay,
      ...request.env,
      ...this.extraEnv,
      ...options.env,
    };
    // A PATH of the build's goes in front of the image's; the overlay's scripts (cmake, ninja) next.
    env.PATH = [options.env?.PATH ?? request.env.PATH, join(this.overlay, 'bin'), base.PATH].filter(Boolean).join(':');
    const secrets = Object.keys(env).filter((name) => SECRET.test(name));
    return {
      args: ['exec', ...this.user(), ...Object.entries(env).flatMap(([k, v]) => ['-e', secrets.includes(k) ? k : `${k}=${v}`]), '-w', options.cwd, this.container, command, ...args],
      env: { ...process.env, ...Object.fromEntries(secrets.map((name) => [name, env[name]])) },
    };
  }
}
