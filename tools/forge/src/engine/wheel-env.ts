import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ForgeError } from '../errors.js';
import { embeddedPython } from './engine.js';
import { cudaLibraryCpath, cudaLibraryIncludes, findOnPath, hostPython, probeCompiler, probeCuda, probePython, type CudaInfo } from './toolchain.js';

const run = promisify(execFile);

/** What a wheel variant asks of its environment: the values of the toolchain keys it uses. */
export interface ToolchainWants {
  readonly kind: 'host' | 'venv';
  readonly python: string | undefined;
  readonly cuda: string | undefined;
  readonly torch: string | undefined;
  /** Build requirements (not upstream wheels); `host` checks which the machine already satisfies. */
  readonly requirements: readonly string[];
  /** Every build requirement (upstream wheels' too), parsed by the same probe for its syntax. */
  readonly parse: readonly string[];
}

export type ToolchainOk = Extract<ToolchainCheck, { ok: true }>;
export type ToolchainCheck =
  | {
      readonly ok: true;
      /** Part of the content key: environment kind and tool versions. */
      readonly toolchain: Readonly<Record<string, string>>;
      /** The interpreter builds run with (host) or a venv is made from (venv). */
      readonly python: string;
      readonly platform: string;
      readonly cuda: CudaInfo | undefined;
      /** `host`: the header folders of the CUDA libraries of torch's own PyPI install (see PythonInfo). */
      readonly cudaLibraryIncludes: readonly string[];
      /** `host`: requirements the machine does not satisfy, to install next to the build. */
      readonly missing: readonly string[];
      /** The requirements to parse that are no PEP 508 requirement, with the reason, where the probe ran. */
      readonly invalid?: Readonly<Record<string, string>>;
    }
  | { readonly ok: false; readonly reason: string; readonly invalid?: Readonly<Record<string, string>> };

/**
 * Can this machine build the variant, and with what? `host` builds only what
 * the machine's own python, nvcc and torch match (anything else is skipped with
 * the reason, never built against the wrong toolkit); `venv` needs the
 * variant's Python on the machine, and its nvcc when CUDA is a key.
 */
export function checkToolchain(wants: ToolchainWants, frontend: string): ToolchainCheck {
  const compiler = probeCompiler();
  const cuda = wants.cuda !== undefined ? probeCuda() : undefined;
  if (wants.cuda !== undefined) {
    if (!cuda) return { ok: false, reason: `needs CUDA ${wants.cuda}, this machine has no CUDA toolkit (no nvcc in CUDA_HOME, /usr/local/cuda or on PATH)` };
    if (cuda.version !== wants.cuda) return { ok: false, reason: `needs CUDA ${wants.cuda}, this machine has ${cuda.version} (${cuda.nvcc})` };
  }
  const interpreter = wants.kind === 'host' ? hostPython() : findPython(wants.python);
  const toolchainRequirements = wants.kind === 'host' ? wants.requirements : [];
  const info = probePython(interpreter, { torch: wants.kind === 'host' && wants.torch !== undefined, requirements: toolchainRequirements, parse: wants.parse, frontend: [frontend] });
  const invalid = info.invalid ?? {};
  if (wants.python !== undefined && info.short !== wants.python) {
    return { ok: false, reason: `needs Python ${wants.python}, this machine has ${info.short} (${interpreter})`, invalid };
  }
  const toolchain: Record<string, string> = { environment: wants.kind, python: info.version, compiler };
  if (cuda) toolchain.nvcc = cuda.version;
  if (wants.kind === 'host' && wants.torch !== undefined) {
    if (!info.torch) return { ok: false, reason: `needs torch ${wants.torch}, this machine's Python (${interpreter}) has no torch`, invalid };
    if (info.torch !== wants.torch) return { ok: false, reason: `needs torch ${wants.torch}, this machine has ${info.torch}`, invalid };
    if (wants.cuda !== undefined && info.torchCuda !== wants.cuda) {
      return { ok: false, reason: `needs a torch built for CUDA ${wants.cuda}, this machine's torch ${info.torch} is built for ${info.torchCuda ?? 'CPU only'}`, invalid };
    }
    toolchain.torch = `${info.torch}${info.torchCuda ? ` cuda ${info.torchCuda}` : ''}`;
  } else if (wants.torch !== undefined) {
    toolchain.torch = wants.torch;
  }
  const missing = Object.entries(info.requirements ?? {}).filter(([, r]) => !r.satisfied).map(([spec]) => spec);
  // The interpreter itself, not the launcher that found it: a pyenv shim is a
  // dozen shell processes (about half a second) on every call the task makes.
  return { ok: true, toolchain, python: info.executable, platform: info.platform, cuda, cudaLibraryIncludes: cuda && info.torchSite ? cudaLibraryIncludes(info.torchSite) : [], missing, invalid };
}

/**
 * The interpreter for a Python version, as uv finds it (virtual environments,
 * uv-managed installs, PATH), never downloaded: a missing one is an error that
 * says how to get it.
 */
export function findPython(version: string | undefined): string {
  if (version === undefined) return hostPython();
  try {
    return execFileSync(uvCommand(), ['python', 'find', '--no-project', version], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, UV_PYTHON_DOWNLOADS: 'never' },
    }).trim();
  } catch {
    throw new ForgeError(`Python ${version} is not on this machine: install it (\`uv python install ${version}\`, or your system's package manager) or remove ${version} from python in the variant config`);
  }
}

/** uv: UV, else the one the tools venv has (setup:engine installs it), else uv on PATH. */
export function uvCommand(): string {
  const configured = process.env.UV;
  if (configured) return configured;
  const python = embeddedPython(process.cwd());
  const beside = python ? join(dirname(python), 'uv') : undefined;
  if (beside && existsSync(beside)) return beside;
  const onPath = findOnPath('uv');
  if (!onPath) throw new ForgeError('wheel environments need uv: run `npm run setup:engine` (it installs uv in .venv) or put uv on PATH');
  return onPath;
}

/**
 * pypa build and the packages it needs, copied from the tools venv into
 * `<cache>/frontend-<version>`: the frontend runs in the build's own
 * interpreter (that is what --no-isolation means) without being installed
 * there, appended to its sys.path so the environment's own packages win.
 */
export function frontendDir(cache: string): string {
  const known = frontends.get(cache);
  if (known) return known;
  const dir = copyFrontend(cache);
  frontends.set(cache, dir);
  return dir;
}
const frontends = new Map<string, string>();

function copyFrontend(cache: string): string {
  const python = embeddedPython(process.cwd());
  if (!python) throw new ForgeError('wheel builds need pypa build from the tools venv: run `npm run setup:engine`');
  const located = locateFrontend(python);
  const dir = join(cache, `frontend-${located.version}`);
  if (existsSync(dir)) return dir;
  const staging = `${dir}.${process.pid}.tmp`;
  mkdirSync(staging, { recursive: true });
  for (const source of located.dirs) cpSync(source, join(staging, source.split('/').pop()!), { recursive: true, filter: (path) => !path.includes('__pycache__') });
  try {
    renameSync(staging, dir);
  } catch {
    rmSync(staging, { recursive: true, force: true }); // another build put it there first
  }
  return dir;
}

/**
 * pypa build's (and tomli's) version and the folders of build, pyproject_hooks, packaging and tomli
 * in the tools venv, read from its site-packages (its dist-info names the
 * version): asking its Python would cost an interpreter start-up per task.
 */
function locateFrontend(python: string): { version: string; dirs: string[] } {
  const venv = dirname(dirname(python));
  const lib = join(venv, 'lib');
  // tomli: build reads pyproject.toml with it where the interpreter has no tomllib (Python 3.10), and the
  // build's interpreter, not the tools venv's 3.11+, runs the frontend.
  const packages = ['build', 'pyproject_hooks', 'packaging', 'tomli'];
  let missing = packages;
  for (const entry of existsSync(lib) ? readdirSync(lib) : []) {
    const site = join(lib, entry, 'site-packages');
    const names = existsSync(site) ? readdirSync(site) : [];
    const versionOf = (dist: string) => names.find((name) => name.startsWith(`${dist}-`) && name.endsWith('.dist-info'))?.slice(dist.length + 1, -'.dist-info'.length);
    const [build, tomli] = [versionOf('build'), versionOf('tomli')];
    const absent = packages.filter((name) => !existsSync(join(site, name)) || (name === 'build' && !build) || (name === 'tomli' && !tomli));
    if (absent.length === 0) return { version: `${build}-tomli${tomli}`, dirs: packages.map((name) => join(site, name)) };
    if (absent.length < missing.length) missing = absent;
  }
  // Named one by one: a venv made by hand (a machine without network) often lacks only tomli.
  throw new ForgeError(`the tools venv (${venv}) lacks the build frontend's ${missing.join(', ')}: run \`npm run setup:engine\``);
}

/** The tools venv's ninja (tools/forge/python/requirements.txt), if it is there. */
export function toolsNinja(root: string): string | undefined {
  const python = embeddedPython(root);
  const ninja = python ? join(dirname(python), 'ninja') : undefined;
  return ninja && existsSync(ninja) ? ninja : undefined;
}

/**
 * Where the build's PATH has no ninja, a folder holding only the tools venv's
 * ninja, to append to it: torch's cpp_extension compiles one file at a time
 * without ninja (its "slow distutils backend"), all at once with it. An
 * environment's own ninja still comes first. Undefined when ninja is on the
 * PATH already, or the tools venv has none.
 */
export function ninjaFallback(cache: string, path: string | undefined): string | undefined {
  if (findOnPath('ninja', path)) return undefined;
  const ninja = toolsNinja(process.cwd());
  if (!ninja) return undefined;
  const dir = join(cache, 'build-tools');
  if (!existsSync(join(dir, 'ninja'))) {
    const staging = `${dir}.${process.pid}.tmp`;
    mkdirSync(staging, { recursive: true });
    symlinkSync(ninja, join(staging, 'ninja'));
    try {
      renameSync(staging, dir);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another build put it there first
    }
  }
  return dir;
}

/**
 * The program that runs pypa build's command line in the build's interpreter.
 * Without isolation pypa build checks the build dependencies by calling the backend's
 * get_requires_for_build_wheel first: for setuptools that is a whole run of
 * setup.py, and a torch extension's setup.py imports torch (about 5 s of a
 * 65 s CUDA build, each time). So the static requirements (pyproject.toml's
 * build-system.requires, read without running anything) are checked before
 * the build, the build runs with --skip-dependency-check, and the hook is
 * asked only when the build has failed, to name what it lacked: the same
 * errors as pypa build's check, one setup.py run fewer when nothing is missing.
 */
const FRONTEND = `import sys
sys.path.append(sys.argv.pop(1))
from build import ProjectBuilder, check_dependency
from build.__main__ import main

args = sys.argv[1:]
try:
    builder = ProjectBuilder(args[-1])
except Exception:
    builder = None  # a bad pyproject.toml: pypa build's run below says what is wrong with it

def unmet(requires, source):
    chains = sorted({" -> ".join(chain) for requirement in requires for chain in check_dependency(requirement)})
    if chains:
        print(f"ERROR Missing dependencies ({source}, checked against {sys.executable}):", *chains, sep="\\n\\t", file=sys.stderr, flush=True)
    return chains

if builder and unmet(builder.build_system_requires, "build-system.requires in pyproject.toml"):
    sys.exit(1)
try:
    main([*args, "--skip-dependency-check"], "python -m build")
except SystemExit as stop:
    if stop.code and builder:
        settings = {}
        for arg in args:
            if arg.startswith("--config-setting="):
                key, _, value = arg[len("--config-setting="):].partition("=")
                settings.setdefault(key, []).append(value)
        try:
            unmet(builder.get_requires_for_build("wheel", {k: v[0] if len(v) == 1 else v for k, v in settings.items()}), "asked for by the backend's get_requires_for_build_wheel")
        except Exception:
            pass  # the hook failing too says nothing the build's own error has not
    raise
`;

/** The command line that runs pypa build in `python` with the frontend folder appended to its path. */
export function frontendCommand(python: string, frontend: string, args: readonly string[]): [string, string[]] {
  return [python, ['-c', FRONTEND, frontend, ...args]];
}

export interface PreparedEnvironment {
  readonly python: string;
  /** Variables to add to the build's environment (PATH, PYTHONPATH, VIRTUAL_ENV). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * Makes the build environment in `dir`: `venv` is a fresh virtual environment
 * with every requirement installed from the index; `host` keeps the machine's
 * interpreter and installs only what it lacks (and the upstream wheels) into
 * an overlay folder on PYTHONPATH, so the machine's Python is never modified.
 */
export async function prepareEnvironment(
  kind: 'host' | 'venv',
  request: {
    readonly python: string;
    readonly dir: string;
    /** Requirement specs, installed with their dependencies from `index`. */
    readonly install: readonly string[];
    /** Upstream wheel files, installed without dependencies: what they need is the project's to list. */
    readonly wheels: readonly string[];
    readonly index: string;
  },
  log: (line: string) => void,
): Promise<PreparedEnvironment> {
  const uv = uvCommand();
  const index = ['--index-url', request.index];
  const uvEnv = { ...process.env, UV_PYTHON_DOWNLOADS: 'never', UV_NO_CONFIG: '1' };
  const uvRun = async (args: string[], what: string) => {
    try {
      // No colour codes in the one-line error (Nx sets FORCE_COLOR for its tasks, which uv honours).
      await run(uv, [...args, '--color', 'never'], { env: uvEnv, maxBuffer: 64 << 20 });
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').filter(Boolean);
      throw new ForgeError(`${what}: ${stderr.slice(-3).join(' / ') || (error as Error).message.split('\n')[0]}`);
    }
  };
  if (kind === 'venv') {
    const venv = join(request.dir, 'venv');
    await uvRun(['venv', '--quiet', '--python', request.python, venv], `cannot create a virtual environment with ${request.python}`);
    const python = join(venv, 'bin', 'python');
    if (request.install.length) {
      log(`installing ${request.install.join(', ')} into a fresh venv from ${request.index}`);
      await uvRun(['pip', 'install', '--quiet', '--python', python, ...index, ...request.install], 'cannot install the build requirements');
    }
    if (request.wheels.length) {
      log(`installing the upstream wheels ${request.wheels.map((w) => basename(w)).join(', ')}`);
      await uvRun(['pip', 'install', '--quiet', '--offline', '--no-deps', '--python', python, ...request.wheels], 'cannot install the upstream wheels');
    }
    // A torch installed here brings its CUDA libraries' headers, which the provider's CPATH (host only) cannot know of.
    const includes = readdirSync(join(venv, 'lib')).flatMap((lib) => cudaLibraryIncludes(join(venv, 'lib', lib, 'site-packages')));
    return { python, env: { VIRTUAL_ENV: venv, PATH: `${join(venv, 'bin')}${delimiter}${process.env.PATH ?? ''}`, ...cudaLibraryCpath(includes) } };
  }
  const overlay = join(request.dir, 'overlay');
  mkdirSync(overlay, { recursive: true });
  if (request.install.length) {
    log(`installing ${request.install.join(', ')} beside the host Python (not into it) from ${request.index}`);
    await uvRun(['pip', 'install', '--quiet', '--python', request.python, '--target', overlay, ...index, ...request.install], 'cannot install the build requirements');
  }
  if (request.wheels.length) {
    log(`installing the upstream wheels ${request.wheels.map((w) => basename(w)).join(', ')} beside the host Python`);
    await uvRun(['pip', 'install', '--quiet', '--offline', '--no-deps', '--python', request.python, '--target', overlay, ...request.wheels], 'cannot install the upstream wheels');
  }
  const pythonPath = [overlay, process.env.PYTHONPATH].filter(Boolean).join(delimiter);
  return { python: request.python, env: { PYTHONPATH: pythonPath, PATH: `${dirname(request.python)}${delimiter}${process.env.PATH ?? ''}` } };
}

/** Installs wheels into a fresh folder for the test: nothing of the build environment but its Python. */
export async function installForTest(python: string, dir: string, wheels: readonly string[]): Promise<void> {
  try {
    await run(uvCommand(), ['pip', 'install', '--quiet', '--offline', '--no-deps', '--python', python, '--target', dir, ...wheels, '--color', 'never'], { env: { ...process.env, UV_NO_CONFIG: '1' } });
  } catch (error) {
    throw new ForgeError(`cannot install the built wheel for its test: ${String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').pop()}`);
  }
}
