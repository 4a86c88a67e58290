import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ForgeError } from '../errors.js';

/** What a Python interpreter is, as the wheel builds care: version, platform, torch. */
export interface PythonInfo {
  readonly executable: string;
  /** `3.11.7` */
  readonly version: string;
  /** `3.11` */
  readonly short: string;
  /** sysconfig's platform, `linux-x86_64`: the platform folder of the wheelhouse. */
  readonly platform: string;
  /** torch's version without the local part (`2.11.0`), when asked for and installed. */
  readonly torch?: string | undefined;
  /** The CUDA version torch was built with (`13.0`), or undefined for a CPU torch. */
  readonly torchCuda?: string | undefined;
  /** The folder torch is installed in (site-packages), where its PyPI CUDA libraries lie beside it. */
  readonly torchSite?: string | undefined;
  /** For each requirement asked about: the installed version, or null, and whether it satisfies the spec. */
  readonly requirements?: Readonly<Record<string, { installed: string | null; satisfied: boolean }>>;
  /** Of the requirements given to parse, those packaging refuses (no PEP 508 requirement), with its reason. */
  readonly invalid?: Readonly<Record<string, string>>;
}

/** A CUDA toolkit: the nvcc release and the folder it lives in (CUDA_HOME). */
export interface CudaInfo {
  readonly version: string;
  readonly home: string;
  readonly nvcc: string;
}

// Runs in the interpreter being probed; `packaging` comes from the frontend folder
// put first on sys.path (the tools venv's): requirements parse the same, with the
// same messages, whatever packaging the interpreter has or lacks.
const PROBE = `
import json, sys, sysconfig
out = {"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3], "short": "%d.%d" % sys.version_info[:2], "platform": sysconfig.get_platform()}
args = json.loads(sys.argv[1])
sys.path[:0] = args["path"]
if args["torch"]:
    # torch's version.py, read, not imported: importing torch costs seconds, on every task.
    try:
        import importlib.metadata as md, importlib.util, os, re
        v = md.version("torch")
        out["torch"] = v.split("+")[0]
        found = importlib.util.find_spec("torch")
        with open(os.path.join(list(found.submodule_search_locations)[0], "version.py")) as f:
            m = re.search(r"""^cuda\\b[^=\\n]*=\\s*(?:'([^']*)'|"([^"]*)")""", f.read(), re.M)
        if m:
            out["torchCuda"] = m.group(1) or m.group(2)
        out["torchSite"] = os.path.dirname(list(found.submodule_search_locations)[0])
    except Exception:
        pass
if args["parse"] or args["requirements"]:
    from packaging.requirements import InvalidRequirement, Requirement
    invalid = {}
    for spec in args["parse"] + args["requirements"]:
        try:
            Requirement(spec)
        except InvalidRequirement as error:
            invalid[spec] = str(error).splitlines()[0]  # the rest repeats the spec with a caret
    out["invalid"] = invalid
if args["requirements"]:
    import importlib.metadata as md
    reqs = {}
    for spec in (s for s in args["requirements"] if s not in invalid):
        r = Requirement(spec)
        try:
            v = md.version(r.name)
        except md.PackageNotFoundError:
            v = None
        reqs[spec] = {"installed": v, "satisfied": v is not None and r.specifier.contains(v, prereleases=True)}
    out["requirements"] = reqs
print(json.dumps(out))
`;

/** Probes an interpreter; `frontend` folders go first on its sys.path, for `packaging`; `parse`: requirements only checked for their syntax. */
export function probePython(python: string, options: { torch?: boolean; requirements?: readonly string[]; parse?: readonly string[]; frontend?: readonly string[] } = {}): PythonInfo {
  const args = JSON.stringify({ torch: options.torch ?? false, requirements: options.requirements ?? [], parse: options.parse ?? [], path: options.frontend ?? [] });
  try {
    return JSON.parse(execFileSync(python, ['-c', PROBE, args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as PythonInfo;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim().split('\n').pop();
    throw new ForgeError(`cannot run the Python interpreter \`${python}\`: ${stderr || (error as Error).message.split('\n')[0]}`);
  }
}

/**
 * The header folders of the CUDA libraries PyPI installed in a site-packages folder
 * (`nvidia/cu13/include`; CUDA 12's wheels have one per library, `nvidia/cublas/include`):
 * torch's ATen/cuda headers include cuSPARSE, cuBLAS and cuSOLVER headers that a toolkit
 * of nvcc alone (PyPI's nvidia-cuda-nvcc, a minimal install) lacks.
 */
export function cudaLibraryIncludes(site: string): string[] {
  const nvidia = join(site, 'nvidia');
  if (!existsSync(nvidia)) return [];
  return readdirSync(nvidia)
    .sort()
    .map((library) => join(nvidia, library, 'include'))
    .filter((dir) => existsSync(dir));
}

/**
 * CPATH with those folders, after a CPATH the user set: the compilers search it after every
 * -I, so a full toolkit's own headers still win and only what it lacks comes from torch's
 * libraries, the versions torch links. Empty without folders, keeping the user's own.
 */
export function cudaLibraryCpath(includes: readonly string[]): { CPATH?: string } {
  return includes.length ? { CPATH: [process.env.CPATH, ...includes].filter(Boolean).join(delimiter) } : {};
}

/** The host's Python: FORGE_HOST_PYTHON, else `python3` on PATH. */
export function hostPython(): string {
  const configured = process.env.FORGE_HOST_PYTHON;
  if (configured) return configured;
  const found = findOnPath('python3');
  if (!found) throw new ForgeError('no python3 on PATH for the host environment (set FORGE_HOST_PYTHON to an interpreter)');
  return found;
}

/**
 * The CUDA toolkit of this machine: CUDA_HOME (or CUDA_PATH), else
 * /usr/local/cuda, else the folder above the nvcc on PATH. Undefined without one.
 */
export function probeCuda(): CudaInfo | undefined {
  if (!cudaProbe) cudaProbe = { value: findCuda() };
  return cudaProbe.value;
}
let cudaProbe: { value: CudaInfo | undefined } | undefined;

function findCuda(): CudaInfo | undefined {
  const candidates = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'];
  const onPath = findOnPath('nvcc');
  if (onPath) candidates.push(dirname(dirname(realpathSync(onPath))));
  for (const home of candidates) {
    if (!home) continue;
    const nvcc = join(home, 'bin', 'nvcc');
    if (!existsSync(nvcc)) continue;
    let text: string;
    try {
      text = execFileSync(nvcc, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      continue;
    }
    const release = /release (\d+\.\d+)/.exec(text)?.[1];
    if (release) return { version: release, home: realpathSync(home), nvcc };
  }
  return undefined;
}

/** The C compiler's identity (`gcc (Debian 12.2.0-14) 12.2.0`): CC, else cc on PATH. */
export function probeCompiler(): string {
  const cc = process.env.CC ?? 'cc';
  let version = compilers.get(cc);
  if (version === undefined) {
    try {
      version = execFileSync(cc, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
    } catch {
      version = `${cc}: not found`;
    }
    compilers.set(cc, version);
  }
  return version;
}
// One probe per process: `forge plan` asks for every wheel task.
const compilers = new Map<string, string>();

export function findOnPath(name: string, path: string | undefined = process.env.PATH): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}
