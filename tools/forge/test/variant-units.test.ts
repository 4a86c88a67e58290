import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ForgeError } from '../src/errors.js';
import { parseRecipe } from '../src/recipe/recipe.js';
import { parseYamlText } from '../src/recipe/yaml-file.js';
import { defaultBuildString, hashInfo, hashInput } from '../src/variants/hash.js';
import { normalizeKey, sortedKeys } from '../src/variants/keys.js';
import { renderRecipe } from '../src/variants/render.js';
import { combinations, loadVariantConfig, parseVariantConfig, withPlatform } from '../src/variants/variant-config.js';
import { engineBuildStrings } from './support/engine.js';

/**
 * The variant side of the key: the build string (hash and prefix) against
 * py-rattler-build's own render, and the variant config's checks and
 * combinations, each computed inside its test.
 */
const config = (text: string) => parseVariantConfig(parseYamlText('variants.yaml', text));
const render = (recipe: string, variants: string) =>
  renderRecipe(parseRecipe(parseYamlText('recipe.yaml', recipe)), config(variants), { targetPlatform: 'linux-64' });

function message(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof ForgeError) return error.format();
    throw error;
  }
  throw new Error('expected a ForgeError');
}

describe('build strings', () => {
  it.each([
    ['numpy and python', ['python', 'numpy'], { python: ['3.12', '3.10'], numpy: ['2.0', '1.26'] }],
    ['perl (three digits)', ['perl'], { perl: ['5.32.1', '5.26'] }],
    ['lua', ['lua'], { lua: ['5.4'] }],
    ['r-base', ['r-base'], { r_base: ['4.3.1'] }],
    ['no prefix key', ['cuda-version'], { cuda_version: ['12.6', '12.9'] }],
  ])('are the engine\'s for %s', (_name, host, variants) => {
    const recipe = `package: {name: x, version: "1"}\nbuild: {number: 3}\nrequirements:\n  host: [${host.join(', ')}]\n`;
    const yaml = Object.entries(variants).map(([key, values]) => `${key}: [${values.map((v) => `"${v}"`).join(', ')}]`).join('\n');
    expect(render(recipe, yaml).map((v) => v.buildString).sort()).toEqual(engineBuildStrings(recipe, variants).sort());
  });

  it('formats integers and booleans as JSON values, keys in byte order', () => {
    expect(hashInput({ b: 1, a: true, B: 'x', _: false })).toBe('{"B": "x", "_": false, "a": true, "b": 1}');
    expect(hashInput({})).toBe('{}');
    expect(sortedKeys({ b: 1, a: 2, A: 3, a_: 4 })).toEqual(['A', 'a', 'a_', 'b']);
  });

  it('takes r before r_base for the prefix, and builds {prefix}h{hash}_{number}', () => {
    expect(hashInfo({ r: '4.2', r_base: '4.3' }, null).prefix).toBe('r42');
    expect(hashInfo({ python: '3.12', numpy: '2.0' }, 'python').prefix).toBe('py');
    expect(hashInfo({ python: '3.12' }, 'generic').prefix).toBe('py312');
    expect(defaultBuildString({ hash: 'abcdef0', prefix: 'py312' }, 7)).toBe('py312habcdef0_7');
  });

  it('normalizes - and . in variant keys to _', () => {
    expect(normalizeKey('cuda-version.x_y')).toBe('cuda_version_x_y');
  });
});

describe('the variant config', () => {
  it('keeps integers, booleans and strings as rattler-build reads them from YAML', () => {
    const c = config('a: [1, -20, +3, 3.10, 1.5e3, true, false, "x", "12", 0x10]\n');
    expect(c.values.get('a')).toEqual([1, -20, 3, '3.10', '1.5e3', true, false, 'x', '12', '0x10']);
  });

  it('loads a variant config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-variant-units-'));
    try {
      writeFileSync(join(dir, 'variants.yaml'), 'python: ["3.12"]\n');
      expect(loadVariantConfig(join(dir, 'variants.yaml')).values).toEqual(new Map([['python', ['3.12']]]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('normalizes keys and ignores pin_run_as_build and extend_keys', () => {
    const c = config('cuda-version: ["12.6"]\npin_run_as_build: {x: y}\nextend_keys: [a]\n');
    expect([...c.values.keys()]).toEqual(['cuda_version']);
    expect(c.zipKeys).toEqual([]);
    expect(config('').values.size).toBe(0);
  });

  it.each([
    ['- a\n', 'variants.yaml:1: a variant config must be a mapping of keys to lists of values'],
    ['"text"\n', 'variants.yaml:1: a variant config must be a mapping of keys to lists of values'],
    ['x: 1\ny: 3\n', 'variants.yaml:1: `x` must be a list of values, got number `1`'],
    ['a: [1]\nx: {k: v}\n', 'variants.yaml:2: `x` must be a list of values, got a mapping'],
    ['x:\n', 'variants.yaml:1: `x` must be a list of values, got nothing'],
    ['x: []\n', 'variants.yaml:1: `x` has no values'],
    ['x:\n  - 1\n  - [a]\n', 'variants.yaml:3: `x` value 2 must be a string, number or boolean, got a list'],
    ['x:\n  - ~\n', 'variants.yaml:2: `x` value 1 must be a string, number or boolean, got nothing'],
    ['x:\n  - 1\n  - if: linux\n    then: 2\n', 'variants.yaml:3: `x` value 2 is a selector (`if:`), which wv-forge does not evaluate in a variant config: list the values for `targetPlatform` plainly'],
    ['a: [1]\nzip_keys: a\n', 'variants.yaml:2: `zip_keys` must be a list of lists of keys'],
    ['a: [1]\nzip_keys: [[a]]\n', 'variants.yaml:2: each `zip_keys` entry must be a list of at least two keys'],
    ['a: [1]\nzip_keys: [[a, 1]]\n', 'variants.yaml:2: each `zip_keys` entry must be a list of at least two keys'],
    ['a: [1]\nzip_keys: [[a, b], x]\n', 'variants.yaml:2: each `zip_keys` entry must be a list of at least two keys'],
    ['a: [1]\nb: [1]\nzip_keys: [a, c]\n', 'variants.yaml:3: zip_keys [a, c] names `c`, which this file does not define (keys: a, b)'],
    ['a: [1]\nb: [1]\nzip_keys:\n  - [a, b]\n  - [b, c-d]\n', 'variants.yaml:5: zip_keys [b, c_d] names `c_d`, which this file does not define (keys: a, b)'],
    ['a: [1, 2]\nb: [1, 2]\nc: [1]\nzip_keys:\n  - [a, b, c]\n', 'variants.yaml:4: zip_keys [a, b, c] must have lists of the same length: `a` has 2, `c` has 1'],
  ])('refuses %j naming the line', (text, expected) => {
    expect(message(() => config(text))).toBe(expected);
  });

  it('accepts zipped keys of equal lengths, a flat zip_keys list as one group', () => {
    expect(config('a: [1, 2]\nb: [3, 4]\nzip_keys: [a, b]\n').zipKeys).toEqual([['a', 'b']]);
    expect(config('a-x: [1, 2]\nb: [3, 4]\nzip_keys: [[a-x, b]]\n').zipKeys).toEqual([['a_x', 'b']]);
  });

  it('sets the target platform asked for and a build platform unless the file has one', () => {
    const c = config('target_platform: [osx-64]\nbuild_platform: [linux-aarch64]\n');
    expect(withPlatform(c, 'linux-64').values.get('target_platform')).toEqual(['linux-64']);
    expect(withPlatform(c, 'linux-64').values.get('build_platform')).toEqual(['linux-aarch64']);
    expect(withPlatform(config('a: [1]\n'), 'linux-64').values.get('build_platform')).toEqual(['linux-64']);
    expect(withPlatform(config('a: [1]\n'), 'linux-64', 'osx-arm64').values.get('build_platform')).toEqual(['osx-arm64']);
    expect(c.values.get('target_platform'), 'the config itself is left alone').toEqual(['osx-64']);
  });

  it('combines only the used keys the file defines, zipped groups together, sorted', () => {
    const c = config('a: [2, 1]\nb: [x, y]\nc: [p, q]\nd: [u, v]\nzip_keys: [[a, b], [c, d]]\n');
    expect(combinations(c, new Set())).toEqual([]);
    expect(combinations(c, new Set(['nope']))).toEqual([]);
    expect(combinations(c, new Set(['a', 'c']))).toEqual([
      { a: 1, c: 'p' },
      { a: 1, c: 'q' },
      { a: 2, c: 'p' },
      { a: 2, c: 'q' },
    ]);
    expect(combinations(c, new Set(['b', 'a']))).toEqual([{ a: 1, b: 'y' }, { a: 2, b: 'x' }]);
  });
});
