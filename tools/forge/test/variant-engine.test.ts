import { describe, expect, it } from 'vitest';
import { ForgeError } from '../src/errors.js';
import { variantId } from '../src/graph/recipe-graph.js';
import { parseRecipe } from '../src/recipe/recipe.js';
import { parseYamlText } from '../src/recipe/yaml-file.js';
import { hashInfo, hashInput } from '../src/variants/hash.js';
import { renderRecipe } from '../src/variants/render.js';
import { combinations, parseVariantConfig } from '../src/variants/variant-config.js';
import { engineBuildStrings } from './support/engine.js';

const config = (text: string) => parseVariantConfig(parseYamlText('variants.yaml', text));
const render = (recipe: string, variants: string) =>
  renderRecipe(parseRecipe(parseYamlText('recipe.yaml', recipe)), config(variants), { targetPlatform: 'linux-64' });

function errorOf(run: () => unknown): ForgeError {
  try {
    run();
  } catch (error) {
    if (error instanceof ForgeError) return error;
    throw error;
  }
  throw new Error('expected a ForgeError');
}

describe('hash', () => {
  it('formats the hash input like rattler-build (Python json.dumps, sorted keys)', () => {
    expect(hashInput({ python: '3.12', cuda_version: '12.6', target_platform: 'linux-64' })).toBe(
      '{"cuda_version": "12.6", "python": "3.12", "target_platform": "linux-64"}',
    );
  });

  it("reproduces rattler-build's own hash test vector", () => {
    // crates/rattler_build_recipe/src/stage1/hash.rs, test_hash_full_variant
    const variant = {
      rust_compiler: 'rust',
      build_platform: 'osx-64',
      c_compiler: 'clang',
      target_platform: 'osx-arm64',
      openssl: '3',
      CONDA_BUILD_SYSROOT: '/Applications/Xcode_13.2.1.app/Contents/Developer/Platforms/MacOSX.platform/Developer/SDKs/MacOSX11.0.sdk',
      channel_targets: 'conda-forge main',
      python: '3.11.* *_cpython',
      c_compiler_version: '14',
    };
    const info = hashInfo(variant, null);
    expect(`${info.prefix}h${info.hash}`).toBe('py311h507f6e9');
  });

  it('uses the bare `py` prefix for noarch python', () => {
    expect(hashInfo({ target_platform: 'noarch' }, 'python').prefix).toBe('py');
  });
});

describe('variant config', () => {
  it('zips keys that vary together', () => {
    const c = config('python: ["3.12", "3.13"]\nnumpy: ["1.26", "2.0"]\nzip_keys: [[python, numpy]]\n');
    expect(combinations(c, new Set(['python', 'numpy']))).toEqual([
      { numpy: '1.26', python: '3.12' },
      { numpy: '2.0', python: '3.13' },
    ]);
  });

  it('names the file and line of a zip_keys length mismatch instead of panicking', () => {
    const error = errorOf(() => config('python: ["3.12", "3.13"]\nnumpy: ["1.26"]\nzip_keys:\n  - [python, numpy]\n'));
    expect(error.format()).toMatch(/^variants\.yaml:3: zip_keys \[python, numpy\] must have lists of the same length/);
  });

  it('rejects a variant config that is not a mapping of lists', () => {
    expect(errorOf(() => config('- python\n- cuda\n')).format()).toMatch(/^variants\.yaml:1: .*mapping of keys to lists/);
    expect(errorOf(() => config('python: "3.12"\n')).format()).toBe('variants.yaml:1: `python` must be a list of values, got string `3.12`');
  });
});

describe('render', () => {
  const variants = 'python: ["3.12", "3.13"]\ncuda_version: ["12.6", "12.8", "12.9"]\n';

  it('uses only the keys a recipe needs: bare host names, with - and _ the same', () => {
    const out = render('package: {name: x, version: "1"}\nrequirements:\n  host: [python, cuda-version]\n', variants);
    expect(out).toHaveLength(6);
    expect(Object.keys(out[0]!.variant).sort()).toEqual(['cuda_version', 'python', 'target_platform']);
  });

  it('does not make a key of a requirement with a version spec', () => {
    const out = render('package: {name: x, version: "1"}\nrequirements:\n  host: [python >=3.10, cuda-version 12.*]\n', variants);
    expect(out).toHaveLength(1);
    expect(out[0]!.variant).toEqual({ target_platform: 'linux-64' });
  });

  it('builds a noarch python package once, with target_platform noarch, under the build string the engine gives it', () => {
    const recipe = 'package: {name: x, version: "1"}\nbuild: {noarch: python}\nrequirements:\n  host: [python]\n';
    // One build string for every python, from py-rattler-build itself (its render, not forge's front).
    const strings = new Set(engineBuildStrings(recipe, { python: ['3.12', '3.13'], cuda_version: ['12.6', '12.8', '12.9'] }));
    expect(strings.size).toBe(1);
    expect(render(recipe, variants).map((v) => v.file)).toEqual([`noarch/x-1-${[...strings][0]}.conda`]);
  });

  it('prefixes the build string with numpy, python, perl, lua and r versions as the engine does', () => {
    const recipe = 'package: {name: x, version: "1"}\nrequirements:\n  host: [python, numpy, perl, lua, r-base]\n';
    const values = { python: ['3.12'], numpy: ['2.0'], perl: ['5.32.1'], lua: ['5.4'], r_base: ['4.3'] };
    const text = Object.entries(values).map(([key, list]) => `${key}: [${list.map((v) => `"${v}"`).join(', ')}]`).join('\n');
    const forge = renderRecipe(parseRecipe(parseYamlText('recipe.yaml', recipe)), config(text), { targetPlatform: 'linux-64' }).map((v) => v.buildString);
    expect(forge).toEqual(engineBuildStrings(recipe, values));
  });

  it('takes only the branch a selector picks', () => {
    const recipe = 'package: {name: x, version: "1"}\nrequirements:\n  host:\n    - if: win\n      then: cuda-version\n      else: python\n';
    const out = render(recipe, variants);
    expect(out).toHaveLength(2);
    expect(out.every((v) => v.variant.cuda_version === undefined)).toBe(true);
  });

  it('marks variants that build.skip excludes', () => {
    const recipe = 'package: {name: x, version: "1"}\nbuild:\n  skip:\n    - python == "3.13"\nrequirements:\n  host: [python]\n';
    expect(render(recipe, variants).map((v) => [v.variant.python, v.skipped])).toEqual([
      ['3.12', false],
      ['3.13', true],
    ]);
  });

  it('names the file and line of an undefined Jinja variable', () => {
    const error = errorOf(() => render('package:\n  name: x\n  version: ${{ nope }}\n', variants));
    expect(error.format()).toMatch(/^recipe\.yaml:3: undefined variable `nope`/);
  });
});

describe('variant ids', () => {
  it('read as people say them, from the values alone', () => {
    expect(variantId({ cuda_version: '12.6', python: '3.12' })).toBe('py3.12-cuda12.6');
    expect(variantId({ torch: '2.11.0', cuda_version: '13.0', python: '3.12' })).toBe('py3.12-cuda13.0-torch2.11.0');
    expect(variantId({ numpy: '2.0', python: '3.13', blas_impl: 'openblas' })).toBe('py3.13-np2.0-blas_implopenblas');
    expect(variantId({ python: '3.12 *_cpython' })).toBe('py3.12___cpython');
    expect(variantId({})).toBe('');
  });
});
