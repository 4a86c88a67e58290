import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseBase, imageRecipe } from '../src/engine/docker.js';
import { cudaLibraryIncludes, probePython } from '../src/engine/toolchain.js';
import { frontendDir, prepareEnvironment } from '../src/engine/wheel-env.js';
import { ForgeError } from '../src/errors.js';
import { providerEnv } from '../src/executors/wheel-build.js';
import { loadWheelProjects } from '../src/graph/wheel-graph.js';
import { normalVersion, parseWheelSpec } from '../src/recipe/wheel-spec.js';
import { renderWheel } from '../src/variants/wheel-render.js';
import { enginePython, repoRoot } from './support/paths.js';
import { PYTORCH_CUDA_ARCHES, realArches } from './support/pytorch-matrix.js';
import { filesUnder, localPipIndex, wheelWorkspace } from './support/wheels.js';
import type { TempWorkspace } from './support/workspace.js';

const scratch = mkdtempSync(join(tmpdir(), 'forge-wheel-inputs-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const hostShort = execFileSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).trim();
const id = `py${hostShort}`;

/** This machine's nvcc release, if it has one (the CUDA mode checks need a toolkit to give). */
const nvcc = /^(\d+\.\d+) /.exec((JSON.parse(execFileSync(process.execPath, [join(repoRoot, 'tools/forge/dist/cli/main.js'), 'toolchain', '--json'], { encoding: 'utf8' })) as { nvcc: string }).nvcc)?.[1];
/** A CUDA release this machine does not have, so its variant must be skipped whatever toolkit (if any) is here. */
const otherCuda = nvcc === '12.8' ? '12.6' : '12.8';

const WHEEL = (body: string) => `name: demo\nversion: 0.1.0\nsource:\n  path: ../src\nvariant:\n  keys: [python]\n${body}`;

function parseError(text: string): string {
  try {
    parseWheelSpec('pkgs/demo/wheel/wheel.yaml', text);
  } catch (error) {
    if (error instanceof ForgeError) return error.format();
    throw error;
  }
  throw new Error('expected a ForgeError');
}

describe('wheel.yaml', () => {
  it('names the file and line of unknown fields, wrong types and unpinned sources', () => {
    expect(parseError(WHEEL('build:\n  enviroment: host\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: unknown field `build.enviroment` (known: environment, requirements, command, env, toolchain_env, config_settings, image, gpus, repair, repair_exclude)');
    expect(parseError(WHEEL('build:\n  environment: conda\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: `build.environment` must be one of host, venv, docker, got `conda`');
    expect(parseError('name: demo\nversion: 0.1.0\nsource:\n  git: https://example.com/x.git\n  rev: main\nvariant:\n  keys: [python]\n')).toBe(
      'pkgs/demo/wheel/wheel.yaml:5: `source.rev` must be a full 40-character commit, got `main` (use `tag` for a tag)',
    );
    expect(parseError('name: demo\nversion: 0.1.0\nsource:\n  git: https://example.com/x.git\nvariant:\n  keys: [python]\n')).toMatch(/^pkgs\/demo\/wheel\/wheel\.yaml:4: a git source needs `rev` \(a full commit\) or `tag`/);
    expect(parseError(WHEEL('  properties:\n    - "nvidia :: cuda"\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: variant property `nvidia :: cuda` must be `namespace :: feature :: value`');
    expect(parseError(WHEEL('  values:\n    torch: ["2.11.0"]\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: `variant.values` sets `torch`, which is not in variant.keys');
    expect(parseError(WHEEL('').replace('version: 0.1.0', 'version: [1]'))).toBe('pkgs/demo/wheel/wheel.yaml:2: `version` must be a non-empty string');
    expect(parseError(WHEEL('build:\n  environment: [host]\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: `build.environment` must be one of host, venv, docker, got `["host"]`');
    expect(parseError('- name: demo\n')).toBe('pkgs/demo/wheel/wheel.yaml:1: the file must be a mapping');
    expect(parseError(WHEEL('test:\n  imports: [demo, "demo; import os"]\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: `test.imports`: `demo; import os` is not a module name (commands go in test.commands)');
  });

  it('checks rendered variant properties against variantlib\'s rule, naming the line, before any build', () => {
    const spec = parseWheelSpec('pkgs/demo/wheel/wheel.yaml', WHEEL('  properties:\n    - "forge_demo :: abi :: cp${{ python }}"\n    - "Forge Demo :: abi :: x"\n'));
    expect(() => renderWheel(spec, { python: '3.11' })).toThrow('variant property `Forge Demo :: abi :: x`: namespace and feature take [a-z0-9_], the value [a-z0-9_.] (variantlib)');
    expect((() => { try { renderWheel(spec, { python: '3.11' }); } catch (error) { return (error as ForgeError).format(); } })()).toMatch(/^pkgs\/demo\/wheel\/wheel\.yaml:9: variant property `Forge Demo/);
    expect(renderWheel(parseWheelSpec('pkgs/demo/wheel/wheel.yaml', WHEEL('  properties: ["forge_demo :: abi :: cp${{ python }}"]\n')), { python: '3.11' }).properties).toEqual(['forge_demo :: abi :: cp3.11']);
  });

  it('gives build.toolchain_env\'s variables to the variants whose selector holds, after env, and names the line of bad entries', () => {
    const body = [
      'build:',
      '  env:',
      '    FORCE_CUDA: "1"',
      '    NVCC_FLAGS: -O2',
      '  toolchain_env:',
      '    - if: match(cuda_version, ">=13")',
      '      then:',
      '        NVCC_FLAGS: -static-global-template-stub=false',
      '      else:',
      '        OLD_NVCC: "cu${{ cuda_version }}"',
      '    - if: python == "3.12" and match(cuda_version, ">=12.8")',
      '      then: { LATE: "yes" }',
      '',
    ].join('\n');
    const spec = parseWheelSpec('pkgs/demo/wheel/wheel.yaml', WHEEL(body).replace('keys: [python]', 'keys: [python, cuda_version]'));
    expect(renderWheel(spec, { python: '3.12', cuda_version: '13.0' }).env).toEqual({ FORCE_CUDA: '1', NVCC_FLAGS: '-static-global-template-stub=false', LATE: 'yes' });
    expect(renderWheel(spec, { python: '3.12', cuda_version: '12.6' }).env).toEqual({ FORCE_CUDA: '1', NVCC_FLAGS: '-O2', OLD_NVCC: 'cu12.6' });
    expect(renderWheel(spec, { python: '3.13', cuda_version: '12.9' }).env).toEqual({ FORCE_CUDA: '1', NVCC_FLAGS: '-O2', OLD_NVCC: 'cu12.9' });
    // The pytorch3d project itself: the flag for CUDA 13 only, as nvcc 12 does not know it.
    const p3d = parseWheelSpec('pkgs/pytorch3d/wheel/wheel.yaml', readFileSync(join(repoRoot, 'pkgs/pytorch3d/wheel/wheel.yaml'), 'utf8'));
    expect(renderWheel(p3d, { python: '3.12', cuda_version: '13.0', torch: '2.11.0' }).env).toEqual({ FORCE_CUDA: '1', NVCC_FLAGS: '-static-global-template-stub=false' });
    expect(renderWheel(p3d, { python: '3.12', cuda_version: '12.8', torch: '2.10.0' }).env).toEqual({ FORCE_CUDA: '1' });

    const entry = (lines: string) => WHEEL(`build:\n  toolchain_env:\n${lines}`).replace('keys: [python]', 'keys: [python, cuda_version]');
    const renderError = (lines: string) => {
      try {
        renderWheel(parseWheelSpec('pkgs/demo/wheel/wheel.yaml', entry(lines)), { python: '3.12', cuda_version: '12.8' });
      } catch (error) {
        if (error instanceof ForgeError) return error.format();
        throw error;
      }
      throw new Error('expected a ForgeError');
    };
    expect(parseError(WHEEL('build:\n  toolchain_env:\n    NVCC_FLAGS: x\n'))).toBe('pkgs/demo/wheel/wheel.yaml:8: `build.toolchain_env` must be a list of `if`/`then`/`else` entries');
    expect(parseError(entry('    - when: match(cuda_version, ">=13")\n      then: { A: "1" }\n'))).toBe('pkgs/demo/wheel/wheel.yaml:9: unknown field `build.toolchain_env[0].when` (known: if, then, else)');
    expect(parseError(entry('    - if: match(cuda_version, ">=13")\n'))).toBe('pkgs/demo/wheel/wheel.yaml:9: `build.toolchain_env[0]` needs `if` (a selector such as match(cuda_version, ">=13")) and `then` (the variables it sets)');
    expect(parseError(entry('    - if: ${{ match(cuda_version, ">=13") }}\n      then: { A: "1" }\n'))).toBe('pkgs/demo/wheel/wheel.yaml:9: `build.toolchain_env[0].if` is a bare expression, as a recipe\'s `if:` (write `match(cuda_version, ">=13")`)');
    expect(parseError(entry('    - if: match(cuda_version, ">=13")\n      then: { NVCC-FLAGS: x }\n'))).toBe('pkgs/demo/wheel/wheel.yaml:10: `build.toolchain_env[0].then`: `NVCC-FLAGS` is not a valid variable name');
    expect(parseError(entry('    - if: match(cuda_version, ">=13")\n      then: [NVCC_FLAGS]\n'))).toBe('pkgs/demo/wheel/wheel.yaml:10: `build.toolchain_env[0].then` must be a mapping');
    // Evaluated per variant: a name outside variant.keys, a bare version in match(), bad syntax.
    expect(renderError('    - if: match(cuda, ">=13")\n      then: { A: "1" }\n')).toBe('pkgs/demo/wheel/wheel.yaml:9: `build.toolchain_env[0].if`: undefined variable `cuda` in `${{ match(cuda, ">=13") }}`');
    expect(renderError('    - if: match(cuda_version, "13")\n      then: { A: "1" }\n')).toMatch(/^pkgs\/demo\/wheel\/wheel\.yaml:9: `build\.toolchain_env\[0\]\.if`: cannot evaluate .*missing range specifier for '13'/);
    expect(renderError('    - if: "true"\n      then: { A: "1" }\n    - if: cuda_version >=\n      then: { A: "2" }\n')).toMatch(/^pkgs\/demo\/wheel\/wheel\.yaml:11: `build\.toolchain_env\[1\]\.if`: cannot evaluate/);
  });

  it('names a patch that is missing or a folder when the project is loaded, not when the build applies it', () => {
    const root = join(scratch, 'patches');
    mkdirSync(join(root, 'pkgs/demo/src'), { recursive: true });
    mkdirSync(join(root, 'pkgs/demo/wheel/fixes'), { recursive: true });
    const load = (patch: string) => {
      writeFileSync(join(root, 'pkgs/demo/wheel/wheel.yaml'), WHEEL('').replace('  path: ../src\n', `  path: ../src\n  patches: [${patch}]\n`));
      try {
        loadWheelProjects(root, ['pkgs/demo/wheel/wheel.yaml']);
        return 'loaded';
      } catch (error) {
        return (error as ForgeError).format();
      }
    };
    expect(load('fixes')).toBe('pkgs/demo/wheel/wheel.yaml:5: patch `fixes` is a folder, not a patch file (looked for pkgs/demo/wheel/fixes)');
    expect(load('gone.patch')).toBe('pkgs/demo/wheel/wheel.yaml:5: patch `gone.patch` does not exist (looked for pkgs/demo/wheel/gone.patch)');
  });

  it('refuses a version that is not PEP 440, or not in the normal form the wheel file name will have, before the build', () => {
    const version = (text: string) => parseError(WHEEL('').replace('version: 0.1.0', `version: ${text}`));
    expect(version('not a version')).toBe('pkgs/demo/wheel/wheel.yaml:2: `version` `not a version` is not a PEP 440 version');
    expect(version('1.0.0-beta1')).toBe("pkgs/demo/wheel/wheel.yaml:2: `version` `1.0.0-beta1` is `1.0.0b1` in PEP 440's normal form, which the wheel's file name will have: write `1.0.0b1`");
    expect(parseWheelSpec('pkgs/demo/wheel/wheel.yaml', WHEEL('').replace('version: 0.1.0', 'version: 1.10')).version).toBe('1.10');
  });

  it("normalises versions as Python's packaging does", () => {
    const versions = ['1.0', '1.0.0', '01.02.003', 'v1.0', ' 1.0 ', '1!2.0', '0!1.0', '1.0a1', '1.0-alpha.1', '1.0BETA2', '1.0c3', '1.0pre', '1.0.preview-4', '1.0rc', '1.0-1', '1.0.post', '1.0-r2', '1.0rev3',
      '1.0.dev', '1.0-dev_7', '1.0a1.post2.dev3', '1.0+Local-01_ab', '1.0+abc.007', '1.0+', '1.0a1a2', '1..0', 'x1.0', '1.0-', '1.0+a..b', '2.11.0', '0.7.9+cu130torch2.11.0'];
    const python = JSON.parse(execFileSync(enginePython(), ['-c', [
      'import json, sys',
      'from packaging.version import Version, InvalidVersion',
      'out = []',
      'for v in json.load(sys.stdin):',
      '    try: out.append(str(Version(v)))',
      '    except InvalidVersion: out.append(None)',
      'print(json.dumps(out))',
    ].join('\n')], { input: JSON.stringify(versions), encoding: 'utf8' })) as Array<string | null>;
    expect(versions.map((v) => normalVersion(v) ?? null)).toEqual(python);
  });

  it('refuses a source path outside the workspace (Nx cannot take it as an input) or at its root', () => {
    const path = (to: string) => parseError(WHEEL('').replace('  path: ../src\n', `  path: ${to}\n`));
    expect(path('../../../../outside-src')).toBe("pkgs/demo/wheel/wheel.yaml:4: source path `../../../../outside-src` is outside the workspace: a variant's content key and Nx inputs cover only the workspace (move the sources into the workspace, or use a git source)");
    expect(path('../../..')).toBe("pkgs/demo/wheel/wheel.yaml:4: source path `../../..` is the workspace root: keep the package's sources in a folder of their own");
    // Beside the wheel folder, or in another folder of the workspace, is a source like any.
    expect(parseWheelSpec('pkgs/demo/wheel/wheel.yaml', WHEEL('').replace('  path: ../src\n', '  path: ../../../shared/src\n')).source).toMatchObject({ kind: 'path', path: 'shared/src' });
  });

  it('refuses a git source that git would read as an option, and a rev with a tag', () => {
    // `git ls-remote --upload-pack=<command>` runs the command: `forge plan` resolves tags, so this ran on a mere listing.
    const git = (lines: string) => parseError(`name: demo\nversion: 0.1.0\nsource:\n${lines}variant:\n  keys: [python]\n`);
    expect(git('  git: "--upload-pack=touch /tmp/x;"\n  tag: v1\n')).toBe('pkgs/demo/wheel/wheel.yaml:4: `source.git` must be a repository URL or path, got `--upload-pack=touch /tmp/x;`');
    expect(git(`  git: https://example.com/x.git\n  rev: ${'a'.repeat(40)}\n  tag: v1\n`)).toBe('pkgs/demo/wheel/wheel.yaml:6: a git source takes `rev` or `tag`, not both (the tag would be ignored)');
  });
});

describe('a build requirement no index has', () => {
  it('is one line with uv\'s reason and no colour codes, also where FORCE_COLOR is set (Nx sets it for its tasks)', async () => {
    const saved = process.env.FORCE_COLOR;
    process.env.FORCE_COLOR = '1';
    try {
      const request = { python: enginePython(), dir: mkdtempSync(join(scratch, 'env-')), install: ['no-such-dist-for-forge'], wheels: [], index: localPipIndex(scratch) };
      const failure = await prepareEnvironment('host', request, () => {}).then(() => undefined, (error: unknown) => (error as Error).message);
      expect(failure).toMatch(/^cannot install the build requirements: error: No solution found when resolving dependencies \/ .*no-such-dist-for-forge/);
      expect(failure).not.toMatch(/\x1b/);
    } finally {
      if (saved === undefined) delete process.env.FORCE_COLOR;
      else process.env.FORCE_COLOR = saved;
    }
  });
});

/** A Python 3.10 that runs (one without tomllib), if this machine has one: on PATH, else pyenv's. */
function python310(): string | undefined {
  const pyenv = join(process.env.PYENV_ROOT ?? join(process.env.HOME ?? '/root', '.pyenv'), 'versions');
  const candidates = ['python3.10', ...(existsSync(pyenv) ? readdirSync(pyenv).filter((v) => v.startsWith('3.10.')).map((v) => join(pyenv, v, 'bin/python3.10')) : [])];
  return candidates.find((python) => {
    try {
      return execFileSync(python, ['-c', 'import sys; print(sys.version_info[:2] == (3, 10))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'True';
    } catch {
      return false;
    }
  });
}
const py310 = python310();

describe('the pypa build frontend forge copies into the build interpreter', () => {
  // Without a 3.10 there is no interpreter lacking tomllib to run it in; the venv builds of 3.10 variants are the case.
  it.skipIf(!py310)('runs in Python 3.10, which has no tomllib (pypa build reads pyproject.toml with tomli there)', () => {
    const dir = frontendDir(mkdtempSync(join(scratch, 'frontend-')));
    const out = execFileSync(py310!, ['-c', 'import sys; sys.path.append(sys.argv[1]); from build.__main__ import entrypoint; from build._compat import tomllib; print(tomllib.loads("a = 1")["a"])', dir], { encoding: 'utf8' });
    expect(out.trim()).toBe('1');
  });

  it('names the frontend packages a tools venv lacks (a venv made by hand, without tomli)', () => {
    // A venv of the real tools venv's packages, tomli left out.
    const venv = mkdtempSync(join(scratch, 'venv-'));
    const real = join(dirname(dirname(enginePython())), 'lib');
    const [version] = readdirSync(real);
    const site = join(venv, 'lib', version!, 'site-packages');
    mkdirSync(site, { recursive: true });
    for (const name of readdirSync(join(real, version!, 'site-packages')).filter((n) => /^(build|pyproject_hooks|packaging)(-[^-]+\.dist-info)?$/.test(n))) {
      symlinkSync(join(real, version!, 'site-packages', name), join(site, name));
    }
    mkdirSync(join(venv, 'bin'));
    symlinkSync(enginePython(), join(venv, 'bin', 'python'));
    const before = process.env.FORGE_PYTHON;
    process.env.FORGE_PYTHON = join(venv, 'bin', 'python');
    try {
      expect(() => frontendDir(mkdtempSync(join(scratch, 'frontend-')))).toThrow(`the tools venv (${venv}) lacks the build frontend's tomli: run \`npm run setup:engine\``);
    } finally {
      if (before === undefined) delete process.env.FORGE_PYTHON;
      else process.env.FORGE_PYTHON = before;
    }
  });
});

describe("seed 004's -Cvariant defaults and seed 003's Docker base images", () => {
  it('sets CUDA_HOME, PATH and the default TORCH_CUDA_ARCH_LIST for a torch x CUDA variant; a project list wins', () => {
    const cuda = { version: '13.0', home: '/usr/local/cuda-13.0', nvcc: '/usr/local/cuda-13.0/bin/nvcc' };
    const env = providerEnv({ python: '3.12', cuda_version: '13.0', torch: '2.11.0' }, cuda, undefined);
    expect(env).toEqual({ CUDA_HOME: '/usr/local/cuda-13.0', PATH: '/usr/local/cuda-13.0/bin', TORCH_CUDA_ARCH_LIST: expect.any(String) });
    expect(realArches(env.TORCH_CUDA_ARCH_LIST!)).toEqual(PYTORCH_CUDA_ARCHES['13.0']);
    expect(providerEnv({ cuda_version: '13.0', torch: '2.11.0' }, cuda, '9.0').TORCH_CUDA_ARCH_LIST).toBe('9.0');
    expect(providerEnv({ python: '3.12' }, undefined, undefined)).toEqual({});
  });

  it("puts the header folders of torch's PyPI CUDA libraries on CPATH, after a CPATH the user set", () => {
    // A torch installed from PyPI as pip lays it out: its dist-info, version.py naming its CUDA, and
    // the nvidia wheels' headers beside it (cusparse.h, which ATen/cuda includes and nvcc alone lacks).
    const site = join(scratch, 'site-packages');
    mkdirSync(join(site, 'torch'), { recursive: true });
    writeFileSync(join(site, 'torch/__init__.py'), '');
    writeFileSync(join(site, 'torch/version.py'), "__version__ = '2.11.0+cu130'\ncuda: Optional[str] = '13.0'\n");
    mkdirSync(join(site, 'torch-2.11.0+cu130.dist-info'));
    writeFileSync(join(site, 'torch-2.11.0+cu130.dist-info/METADATA'), 'Metadata-Version: 2.1\nName: torch\nVersion: 2.11.0+cu130\n');
    for (const lib of ['cu13', 'cudnn']) mkdirSync(join(site, 'nvidia', lib, 'include'), { recursive: true });
    mkdirSync(join(site, 'nvidia/no-headers'));
    const info = probePython('python3', { torch: true, frontend: [site] });
    expect(info).toMatchObject({ torch: '2.11.0', torchCuda: '13.0', torchSite: site });
    const includes = cudaLibraryIncludes(info.torchSite!);
    expect(includes).toEqual([join(site, 'nvidia/cu13/include'), join(site, 'nvidia/cudnn/include')]);

    const cuda = { version: '13.0', home: '/opt/nvcc-only', nvcc: '/opt/nvcc-only/bin/nvcc' };
    const saved = process.env.CPATH;
    try {
      delete process.env.CPATH;
      expect(providerEnv({ cuda_version: '13.0', torch: '2.11.0' }, cuda, undefined, includes).CPATH).toBe(includes.join(':'));
      process.env.CPATH = '/mine/include';
      expect(providerEnv({ cuda_version: '13.0', torch: '2.11.0' }, cuda, undefined, includes).CPATH).toBe(['/mine/include', ...includes].join(':'));
      // No torch libraries, no CPATH: the build's environment keeps the user's own.
      expect(providerEnv({ cuda_version: '13.0', torch: '2.11.0' }, cuda, undefined, [])).not.toHaveProperty('CPATH');
    } finally {
      if (saved === undefined) delete process.env.CPATH;
      else process.env.CPATH = saved;
    }
  });

  it("picks the docker base image: the project's, else CUDA's entry, else Python's with nvcc from PyPI for 13.x; a CUDA with neither is one line", () => {
    const images = {};
    expect(chooseBase({ python: '3.11', cuda: undefined, image: undefined, images })).toEqual({ base: 'forge-base:bookworm', from: 'the built-in map (py3.11)', pypiCuda: false });
    expect(chooseBase({ python: '3.11', cuda: '13.0', image: undefined, images })).toEqual({ base: 'forge-base:bookworm', from: 'the built-in map (py3.11)', pypiCuda: true });
    expect(chooseBase({ python: '3.11', cuda: '12.8', image: undefined, images })).toEqual({ base: 'nvidia/cuda:12.8.1-devel-ubuntu22.04', from: 'the built-in map (cuda12.8)', pypiCuda: false });
    expect(chooseBase({ python: '3.11', cuda: '13.0', image: undefined, images: { 'py3.11-cuda13.0': 'registry.example/cuda13:py311' } })).toEqual({ base: 'registry.example/cuda13:py311', from: 'dockerImages.py3.11-cuda13.0 in nx.json', pypiCuda: false });
    expect(chooseBase({ python: '3.11', cuda: undefined, image: 'mine:1', images })).toMatchObject({ base: 'mine:1', from: 'build.image' });
    expect(() => chooseBase({ python: '3.11', cuda: '12.4', image: undefined, images })).toThrow('CUDA 12.4 has neither an image (no `cuda12.4` in dockerImages or the built-in map) nor a PyPI toolchain');
    expect(() => chooseBase({ python: '3.9', cuda: undefined, image: undefined, images })).toThrow('no docker base image for Python 3.9: add `"py3.9": "<image with python3.9>"` to dockerImages in nx.json');
    const recipe = imageRecipe({ python: '3.11', cuda: '13.0', torch: undefined, image: undefined, images, index: 'https://pypi.org/simple', tools: ['uv==0.13.8', 'auditwheel==6.8.2'] }, chooseBase({ python: '3.11', cuda: '13.0', image: undefined, images }));
    expect(recipe).toContain("'nvidia-cuda-nvcc==13.0.*' 'nvidia-nvvm==13.0.*' 'nvidia-cuda-crt==13.0.*' 'nvidia-cuda-cccl==13.0.*' 'nvidia-cuda-runtime==13.0.*'");
    expect(recipe).toContain('pip install --quiet --disable-pip-version-check --index-url https://pypi.org/simple uv==0.13.8');
    expect(recipe).not.toMatch(/curl|wget|uv python install/);
  });
});

// One run-many of a dozen real builds: with the whole suite on 2 cores it can take minutes.
describe('wheel sources and bad input, in one run', { timeout: 400_000 }, () => {
  let ws: TempWorkspace;
  let repo: string;
  let commit: string;
  const mirror = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: '', GIT_CONFIG_VALUE_0: 'https://git.example.invalid/' };
  beforeAll(() => {
    ws = wheelWorkspace(localPipIndex(scratch));
    ws.write('variants.yaml', `python:\n  - "${hostShort}"\n`);
    // A git repository of the example's C extension, reached through a mirror rule like a user's insteadOf.
    repo = join(scratch, 'mirror', 'demo.git');
    cpSync(join(repoRoot, 'examples/wheels/pkgs/demo-wheel/src'), join(repo, 'ext'), { recursive: true });
    const pyproject = join(repo, 'ext/pyproject.toml');
    writeFileSync(pyproject, readFileSync(pyproject, 'utf8').replace('name = "demo-wheel"', 'name = "demo-wheel-from-git"'));
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } }).trim();
    git('init', '-q');
    git('add', '-A');
    git('commit', '-qm', 'demo');
    git('tag', '-a', 'v0.1.0', '-m', 'v0.1.0');
    commit = git('rev-parse', 'HEAD');
    mirror.GIT_CONFIG_KEY_0 = `url.file://${join(scratch, 'mirror')}/.insteadOf`;
    const project = (name: string, body: string) => ws.write(`pkgs/${name}/wheel/wheel.yaml`, `name: ${name}\nversion: 0.1.0\n${body}`);
    project('from-git', 'source:\n  git: https://git.example.invalid/demo.git\n  tag: v0.1.0\n  subdirectory: ext\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1"]\n');
    ws.edit('pkgs/from-git/wheel/wheel.yaml', (text) => text.replace('name: from-git', 'name: demo-wheel-from-git'));
    project('bad-rev', `source:\n  git: file://${repo}\n  rev: ${'0'.repeat(40)}\nvariant:\n  keys: [python]\n`);
    project('bad-patch', 'source:\n  path: ../../demo-wheel/src\n  patches:\n    - bad.patch\nvariant:\n  keys: [python]\n');
    ws.write('pkgs/bad-patch/wheel/bad.patch', '--- a/setup.py\n+++ b/setup.py\n@@ -1,2 +1,2 @@\n-from nothing import here\n+from something import there\n context\n');
    ws.write('pkgs/broken/src/setup.py', 'from setuptools import Extension, setup\nsetup(name="broken", version="0.1.0", ext_modules=[Extension("broken", ["broken.c"])])\n');
    ws.write('pkgs/broken/src/broken.c', 'this is not C;\n');
    project('broken', 'source:\n  path: ../src\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1"]\n');
    project('broken-app', 'source:\n  path: ../../demo-wheel-app/src\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1", broken]\n');
    // Built against limited-api as that project builds it (0.1.0): a pin to another version is an error, not ignored.
    project('pinned-app', 'source:\n  path: ../../demo-wheel-app/src\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1", "limited-api==9.9"]\n');
    // pypa build runs without its dependency check (one setup.py run fewer): what it would have named, forge's frontend names.
    // An in-tree backend, setuptools' with a get_requires hook that says when it is called.
    const inTree = (name: string, requires: string, buildWheel = '') => {
      ws.write(`pkgs/${name}/src/setup.py`, `from setuptools import setup\nsetup(name="${name}", version="0.1.0", py_modules=["${name.replaceAll('-', '_')}"])\n`);
      ws.write(`pkgs/${name}/src/${name.replaceAll('-', '_')}.py`, '');
      ws.write(`pkgs/${name}/src/pyproject.toml`, '[build-system]\nrequires = ["setuptools>=70.1"]\nbuild-backend = "_backend"\nbackend-path = ["."]\n');
      ws.write(`pkgs/${name}/src/_backend.py`, `from setuptools import build_meta as _setuptools\nfrom setuptools.build_meta import *\n\ndef get_requires_for_build_wheel(config_settings=None):\n    print(f"get_requires_for_build_wheel called with {config_settings}", flush=True)\n    return _setuptools.get_requires_for_build_wheel(config_settings) + ${requires}\n${buildWheel}`);
      project(name, 'source:\n  path: ../src\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1"]\n  config_settings:\n    flavour: plain\n');
    };
    inTree('hook-free', '[]');
    inTree('needs-dynamic', '["forge-absent-dynamic>=1"]', '\ndef build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    import forge_absent_dynamic\n');
    ws.write('pkgs/needs-static/src/setup.py', 'from setuptools import setup\nraise SystemExit("setup.py ran")\n');
    ws.write('pkgs/needs-static/src/pyproject.toml', '[build-system]\nrequires = ["setuptools>=70.1", "forge-absent-static>=1"]\nbuild-backend = "setuptools.build_meta"\n');
    project('needs-static', 'source:\n  path: ../src\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1"]\n');
    project('future-python', 'source:\n  path: ../../demo-wheel/src\nvariant:\n  keys: [python]\n  values:\n    python: ["3.99"]\nbuild:\n  environment: venv\n');
    // config_settings reach the backend: setuptools tags a --py-limited-api wheel abi3.
    project('limited-api', 'source:\n  path: ../src\nvariant:\n  keys: [python]\nbuild:\n  requirements: ["setuptools>=70.1"]\n  config_settings:\n    --build-option: --py-limited-api=cp39\n');
    cpSync(join(repoRoot, 'examples/wheels/pkgs/demo-wheel/src'), join(ws.root, 'pkgs/limited-api/src'), { recursive: true });
    ws.edit('pkgs/limited-api/src/pyproject.toml', (text) => text.replace('name = "demo-wheel"', 'name = "limited-api"'));
    if (nvcc) {
      // seed 004's two modes, seen from a custom build command: `variant` gets the toolkit, `variant-name` does not.
      const echo = 'echo "seen: CUDA_HOME=${CUDA_HOME:-unset}" && python -m pip wheel --quiet --no-deps --no-build-isolation -w "$WHEEL_DIR" .';
      for (const mode of ['variant', 'variant-name']) {
        project(`cuda-${mode}`, `source:\n  path: ../src\nvariant:\n  keys: [python, cuda_version]\n  values:\n    cuda_version: ["${nvcc}"]\n  mode: ${mode}\nbuild:\n  requirements: ["setuptools>=70.1"]\n  command: '${echo}'\n`);
        cpSync(join(repoRoot, 'examples/wheels/pkgs/demo-wheel/src'), join(ws.root, `pkgs/cuda-${mode}/src`), { recursive: true });
        ws.edit(`pkgs/cuda-${mode}/src/pyproject.toml`, (text) => text.replace('name = "demo-wheel"', `name = "cuda-${mode}"`));
      }
    }
    project('other-cuda', `source:\n  path: ../../demo-wheel/src\nvariant:\n  keys: [python, cuda_version]\n  values:\n    cuda_version: ["${otherCuda}"]\n`);
    if (nvcc) {
      // build.toolchain_env seen from the build: the CUDA >= 13 flag and its else branch, by this machine's nvcc.
      const echo = 'echo "seen: NVCC_FLAGS=${NVCC_FLAGS:-unset} OLD_NVCC=${OLD_NVCC:-unset}" && python -m pip wheel --quiet --no-deps --no-build-isolation -w "$WHEEL_DIR" .';
      project('toolchain-env', `source:\n  path: ../src\nvariant:\n  keys: [python, cuda_version]\n  values:\n    cuda_version: ["${nvcc}"]\nbuild:\n  requirements: ["setuptools>=70.1"]\n  command: '${echo}'\n  toolchain_env:\n    - if: match(cuda_version, ">=13")\n      then:\n        NVCC_FLAGS: -static-global-template-stub=false\n      else:\n        OLD_NVCC: "1"\n`);
      cpSync(join(repoRoot, 'examples/wheels/pkgs/demo-wheel/src'), join(ws.root, 'pkgs/toolchain-env/src'), { recursive: true });
      ws.edit('pkgs/toolchain-env/src/pyproject.toml', (text) => text.replace('name = "demo-wheel"', 'name = "toolchain-env"'));
    }
  });
  afterAll(() => ws.dispose());

  it('fetches a git tag once through the mirror rule and builds from the source cache with no way to the remote', () => {
    const fetched = ws.run('/usr/bin/env', [...Object.entries(mirror).map(([k, v]) => `${k}=${v}`), process.execPath, join(repoRoot, 'tools/forge/dist/cli/main.js'), 'fetch', 'from-git', '--json']);
    expect(fetched.code, fetched.stderr).toBe(0);
    const sources = JSON.parse(fetched.stdout) as { sources: Array<{ commit: string; tree: string }> };
    expect(sources.sources[0]!.commit).toBe(commit);
    expect(existsSync(join(sources.sources[0]!.tree, 'ext/setup.py'))).toBe(true);
    expect(JSON.parse(readFileSync(join(ws.root, '.forge/sources/refs.json'), 'utf8'))).toEqual({ 'https://git.example.invalid/demo.git#v0.1.0': commit });
    // No mirror rule now: the URL cannot be reached, the cache is all there is.
    const built = ws.nx('run', `from-git:wheel-${id}`, '--output-style=stream');
    expect(built.code, built.stdout).toBe(0);
    expect(built.stdout).toContain(`from-git:${id}: built`);
    const explain = JSON.parse(ws.forge('explain', 'from-git', id, '--json').stdout) as { inputs: { source: Record<string, string> } };
    expect(explain.inputs.source).toEqual({ git: 'https://git.example.invalid/demo.git', commit, subdirectory: 'ext' });
  });

  let manyRun = '';
  it('reports a missing commit, a patch that does not apply, a missing interpreter and a failing build, one line each; siblings go on, dependents do not run, nothing is half-written', () => {
    const run = ws.nx('run-many', '-t', 'wheel', '--skip-nx-cache', '--output-style=stream', '--parallel=2');
    expect(run.code).not.toBe(0);
    const out = run.stdout;
    manyRun = out;
    expect(out).toContain(`bad-rev:${id}: error: pkgs/bad-rev/wheel/wheel.yaml:5: commit ${'0'.repeat(40)} does not exist in file://${repo}`);
    expect(out).toMatch(new RegExp(`bad-patch:${id}: error: pkgs/bad-patch/wheel/wheel\\.yaml:6: patch \`bad\\.patch\` does not apply: error: patch failed: setup\\.py:1`));
    expect(out).toContain(`pinned-app:${id}: error: pkgs/pinned-app/wheel/wheel.yaml:8: build requirement \`limited-api==9.9\` does not admit 0.1.0, the version pkgs/limited-api/wheel/wheel.yaml builds`);
    expect(out).toContain('future-python:py3.99: error: Python 3.99 is not on this machine: install it (`uv python install 3.99`');
    expect(out).toContain(`other-cuda:${id}-cuda${otherCuda}: skipped: needs CUDA ${otherCuda}, this machine has ${nvcc ?? 'no CUDA toolkit'}`);
    expect(out).toContain(`broken:${id}: FAILED (build exit 1). Last lines of its log:`);
    expect(out).toMatch(/\| .*broken\.c:1:\d+: error/);
    expect(out).not.toContain(`> nx run broken-app:wheel-${id}`);
    expect(out).toContain(`from-git:${id}: cached in wheelhouse/from-git/${id}`);
    expect(existsSync(join(ws.root, 'wheelhouse/demo-wheel', id, 'manifest.json'))).toBe(true);
    for (const failed of ['bad-rev', 'bad-patch', 'pinned-app', 'future-python', 'broken', 'broken-app', 'other-cuda', 'needs-static', 'needs-dynamic']) expect(existsSync(join(ws.root, 'wheelhouse', failed))).toBe(false);
    expect(filesUnder(join(ws.root, 'wheelhouse/.staging'))).toEqual([]);
    const plan = JSON.parse(ws.forge('plan', '--json').stdout) as Array<{ target: string; status: string; reason: string }>;
    expect(plan.find((p) => p.target === `broken:wheel-${id}`)).toMatchObject({ status: 'build', reason: expect.stringContaining('the last build with these inputs failed') });
    expect(plan.find((p) => p.target === `bad-patch:wheel-${id}`)).toMatchObject({ status: 'build', reason: expect.stringContaining('the last build with these inputs failed') });
    expect(plan.find((p) => p.target === `broken-app:wheel-${id}`)).toMatchObject({ status: 'blocked', reason: `upstream broken:wheel-${id} is failing` });
  });

  it("checks pyproject.toml's build-system.requires before the build and asks the backend's get_requires hook only after a failed one, naming what is missing", () => {
    // Static: named before the backend runs (its setup.py would say so).
    expect(manyRun).toContain(`needs-static:${id}: FAILED (build exit 1). Last lines of its log:`);
    expect(manyRun).toMatch(/\| ERROR Missing dependencies \(build-system\.requires in pyproject\.toml, checked against \/.*python[\d.]*\):\n.*\| \tforge-absent-static>=1\n/);
    expect(manyRun).not.toContain('setup.py ran');
    // Dynamic: the build fails on the import, then the hook (with the config settings) names the requirement.
    expect(manyRun).toContain(`needs-dynamic:${id}: FAILED (build exit 1). Last lines of its log:`);
    expect(manyRun).toContain(`[needs-dynamic:${id}] get_requires_for_build_wheel called with {'flavour': 'plain'}`);
    expect(manyRun).toMatch(/\| ERROR Missing dependencies \(asked for by the backend's get_requires_for_build_wheel, checked against .*\):\n.*\| \tforge-absent-dynamic>=1\n/);
    // A build that succeeds never calls the hook: for setuptools that is one setup.py run fewer.
    expect(manyRun).toContain(`hook-free:${id}: built`);
    expect(manyRun).not.toContain(`[hook-free:${id}] get_requires_for_build_wheel called`);
  });

  it('passes config_settings to the build backend', () => {
    // Exactly one wheel, tagged abi3 by setuptools' --py-limited-api (without the setting it would be cp3XX-cp3XX).
    const wheels = new Set(filesUnder(join(ws.root, 'wheelhouse/limited-api', id)).filter((f) => f.endsWith('.whl')).map((f) => f.split('/').at(-1)));
    expect([...wheels]).toEqual([expect.stringMatching(/^limited_api-0\.1\.0(\+[a-z0-9.]+)?-cp39-abi3-[a-z0-9_.]+\.whl$/)]);
    expect(manyRun).toContain(`limited-api:${id}: built`);
  });

  // Needs a CUDA toolkit (nvcc) on this machine: without one both projects are skipped, which the run above shows.
  it.skipIf(!nvcc)('gives a `variant` build the CUDA toolkit and leaves a `variant-name` build alone', () => {
    expect(manyRun).toMatch(new RegExp(`\\[cuda-variant:${id}-cuda${nvcc}\\] seen: CUDA_HOME=/`));
    expect(manyRun).toContain(`[cuda-variant-name:${id}-cuda${nvcc}] seen: CUDA_HOME=unset`);
    expect(filesUnder(join(ws.root, `wheelhouse/cuda-variant/${id}-cuda${nvcc}`)).some((f) => new RegExp(`^index/cu${nvcc!.replace('.', '')}/cuda-variant/cuda_variant-0\\.1\\.0\\+cu${nvcc!.replace('.', '')}-`).test(f))).toBe(true);
  });

  // Needs nvcc, as the test above: the selector reads the variant's cuda_version, which the host build must match.
  it.skipIf(!nvcc)('gives build.toolchain_env to the build of a variant whose selector holds, the else branch otherwise, and keys it', () => {
    const task = `${id}-cuda${nvcc}`;
    const cuda13 = Number(nvcc!.split('.')[0]) >= 13;
    expect(manyRun).toContain(`[toolchain-env:${task}] seen: ${cuda13 ? 'NVCC_FLAGS=-static-global-template-stub=false OLD_NVCC=unset' : 'NVCC_FLAGS=unset OLD_NVCC=1'}`);
    expect(manyRun).toContain(`toolchain-env:${task}: built`);
    const key = () => (JSON.parse(ws.forge('explain', 'toolchain-env', task, '--json').stdout) as { key: string }).key;
    const status = () => (JSON.parse(ws.forge('plan', '--json').stdout) as Array<{ target: string; status: string }>).find((p) => p.target === `toolchain-env:wheel-${task}`)!.status;
    const before = key();
    expect(status()).toBe('cached');
    // Another flag for the range is another build: the key covers it (wheel.yaml byte for byte).
    ws.edit('pkgs/toolchain-env/wheel/wheel.yaml', (text) => text.replace('-static-global-template-stub=false', '-static-global-template-stub=true'));
    expect(key()).not.toBe(before);
    expect(status()).toBe('build');
    ws.edit('pkgs/toolchain-env/wheel/wheel.yaml', (text) => text.replace('-static-global-template-stub=true', '-static-global-template-stub=false'));
    expect(key()).toBe(before);
    expect(status()).toBe('cached');
  });
});
