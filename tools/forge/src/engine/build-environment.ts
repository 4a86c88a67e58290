import { delimiter } from 'node:path';
import { THIS_MACHINE, type CompilerSite } from './compile-cache.js';
import { runLogged, type LoggedRun } from './logged-process.js';
import { frontendCommand, installForTest, prepareEnvironment } from './wheel-env.js';
import { repairWheel, type RepairResult } from './wheel-tool.js';

/**
 * Where a wheel is built: `host` (the machine's interpreter, missing
 * requirements beside it), `venv` (a fresh virtual environment) or `docker`
 * (a container of an image per variant). Every environment prepares, builds
 * and runs commands; the steps after the build (check, repair, test, label,
 * index) are one pipeline over this interface (executors/wheel-build.ts).
 *
 * Paths are the same inside and outside the environment: a container mounts
 * each folder it needs at its host path, so a command line written for one
 * environment works in every other.
 */
export interface BuildEnvironment {
  readonly kind: 'host' | 'venv' | 'docker';
  /** The build's interpreter, as commands in the environment name it. */
  readonly python: string;
  /**
   * The one place to add to every command run in the environment: variables
   * (a compiler cache's, a CA bundle's) and host folders it must see (a cache
   * folder; mounted at the same path in a container). Mounts before
   * prepare(); variables before the commands that need them.
   */
  extend(extra: EnvironmentExtras): void;
  /** Where the build's compilers and the compile cache's sccache run (after prepare()). */
  compilerSite(): CompilerSite;
  /** Makes the environment ready to build (venv, requirements, image). */
  prepare(log: (line: string) => void): Promise<void>;
  /** Runs the build: pypa build (or the project's command) in the source folder, the wheel into `output`. */
  build(log: (line: string) => void): Promise<LoggedRun>;
  /** Runs one command in the environment, with its variables and the build's own. */
  run(command: string, args: readonly string[], options: { readonly cwd: string; readonly env?: Readonly<Record<string, string>>; readonly label: string }, log: (line: string) => void): Promise<LoggedRun>;
  /** auditwheel repair, where the wheel's libraries are. */
  repair(wheel: string, outDir: string, excludes: readonly string[]): Promise<RepairResult>;
  /** Installs wheels into a fresh folder (no dependencies) for the wheel's test. */
  installForTest(target: string, wheels: readonly string[]): Promise<void>;
  /** Ends what prepare() started (a container); always called, also after a failure. */
  dispose(): Promise<void>;
}

export interface EnvironmentExtras {
  readonly env?: Readonly<Record<string, string>>;
  /** Host folders the environment's commands read or write. */
  readonly mounts?: ReadonlyArray<{ readonly path: string; readonly readOnly?: boolean }>;
}

/** What every environment is asked to build. */
export interface BuildRequest {
  readonly root: string;
  readonly label: string;
  /** Scratch folder of this build (removed with the staging folder). */
  readonly work: string;
  /** Source folder the build runs in. */
  readonly source: string;
  /** Folder the wheel goes to. */
  readonly output: string;
  /** Build requirements (not upstream wheels), installed from `index`. */
  readonly requirements: readonly string[];
  /** `host`: the requirements the machine lacks. */
  readonly missing: readonly string[];
  readonly upstreamWheels: readonly string[];
  /** PEP 503 URL the environment installs from. */
  readonly index: string;
  /** `host`: the machine's interpreter; `venv`: the one the venv is made from. */
  readonly python: string;
  /** pypa build's folder (see wheel-env.ts frontendDir). */
  readonly frontend: string;
  readonly configSettings: ReadonlyArray<readonly [string, string]>;
  /** The project's own build command (sh -c in the source folder) instead of pypa build. */
  readonly command: string | undefined;
  /** The build's variables: the provider's (CUDA_HOME, TORCH_CUDA_ARCH_LIST) and the project's. */
  readonly env: Readonly<Record<string, string>>;
}

/** pypa build's arguments, without isolation: the environment holds the requirements. */
export function buildArguments(request: Pick<BuildRequest, 'output' | 'configSettings'>): string[] {
  return ['--wheel', '--no-isolation', '--outdir', request.output, ...request.configSettings.map(([k, v]) => `--config-setting=${k}=${v}`), '.'];
}

/** `host` and `venv`: commands run on this machine, in the prepared interpreter. */
export class LocalEnvironment implements BuildEnvironment {
  private extraEnv: Record<string, string> = {};
  private prepared: { python: string; env: Readonly<Record<string, string>> } | undefined;

  constructor(
    readonly kind: 'host' | 'venv',
    private readonly request: BuildRequest,
  ) {}

  get python(): string {
    return this.prepared?.python ?? this.request.python;
  }

  extend(extra: EnvironmentExtras): void {
    this.extraEnv = { ...this.extraEnv, ...extra.env };
    // Mounts need nothing here: the commands run on the machine that has the folders.
  }

  compilerSite(): CompilerSite {
    return THIS_MACHINE;
  }

  async prepare(log: (line: string) => void): Promise<void> {
    const { request } = this;
    const install = this.kind === 'host' ? request.missing : request.requirements;
    this.prepared = await prepareEnvironment(this.kind, { python: request.python, dir: request.work, install, wheels: request.upstreamWheels, index: request.index }, (line) => log(`${request.label}: ${line}`));
  }

  build(log: (line: string) => void): Promise<LoggedRun> {
    const { request } = this;
    const [command, args] = request.command ? ['sh', ['-c', request.command]] : frontendCommand(this.python, request.frontend, buildArguments(request));
    return this.run(command, args, { cwd: request.source, env: { ...request.env, WHEEL_DIR: request.output, PYTHON: this.python, NO_COLOR: '1' }, label: request.label }, log);
  }

  run(command: string, args: readonly string[], options: { cwd: string; env?: Readonly<Record<string, string>>; label: string }, log: (line: string) => void): Promise<LoggedRun> {
    const prepared = this.prepared?.env ?? {};
    const env: NodeJS.ProcessEnv = { ...process.env, ...prepared, ...this.extraEnv, ...options.env };
    // A PATH of the build's (a toolkit's bin) goes in front of the environment's, not instead of it.
    if (options.env?.PATH !== undefined) env.PATH = `${options.env.PATH}${delimiter}${prepared.PATH ?? process.env.PATH ?? ''}`;
    return runLogged(command, args, { cwd: options.cwd, env, label: options.label }, log);
  }

  repair(wheel: string, outDir: string, excludes: readonly string[]): Promise<RepairResult> {
    return repairWheel(this.request.root, { wheel, outDir, excludes });
  }

  installForTest(target: string, wheels: readonly string[]): Promise<void> {
    return installForTest(this.python, target, wheels);
  }

  async dispose(): Promise<void> {
    // Nothing runs on after a command here: the venv or overlay goes with the build's folder.
  }
}
