import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RenderCache } from '../src/graph/render-cache.js';
import { NodesCache } from '../src/nx/nodes-cache.js';
import { readRecord } from '../src/solve/solver.js';
import { readPublishRecords } from '../src/store/publish-records.js';
import { DEFAULT_OPTIONS, readForgeOptions } from '../src/config/forge-config.js';
import { buildGraph } from '../src/graph/recipe-graph.js';
import { loadWheelGraph } from '../src/graph/wheel-graph.js';
import { loadProjects } from '../src/graph/workspace.js';
import { OutputStore } from '../src/store/outputs.js';
import { parseRecipe } from '../src/recipe/recipe.js';
import { BOOLEAN_FIELDS, FIELD_SHAPES, RECIPE_FIELDS, SOURCE_FIELDS, TEXT_ITEMS } from '../src/recipe/recipe-fields.js';
import { parseYamlText } from '../src/recipe/yaml-file.js';
import { ForgeError, isForgeError } from '../src/errors.js';
import { renderRecipe } from '../src/variants/render.js';
import { parseVariantConfig } from '../src/variants/variant-config.js';
import { differences, engineAnswers, forgeAnswer } from './support/parity.js';
import { enginePython } from './support/paths.js';
import { TempWorkspace, type RunResult } from './support/workspace.js';

const VARIANTS = 'python: ["3.12", "3.13"]\ncuda_version: ["12.6", "12.8", "12.9"]\n';
const GOOD = 'package: {name: good, version: "1.0"}\nrequirements:\n  host: [python]\n';

let workspace: TempWorkspace | undefined;
afterEach(() => workspace?.dispose());

function setup(files: Record<string, string>): TempWorkspace {
  workspace = new TempWorkspace({ 'variants.yaml': VARIANTS, 'pkgs/good/recipe/recipe.yaml': GOOD, ...files });
  return workspace;
}

/** One line on stderr naming the file, a non-zero exit, and no stack trace, from forge and from Nx. */
function expectCleanError(result: RunResult, pattern: RegExp): void {
  expect(result.code).not.toBe(0);
  const lines = result.stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('npm warn'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  // Ends its line, so the shell prompt (or npm's next line) does not join it.
  expect(result.stderr).toMatch(/[^\n]\n$/);
}

/**
 * What `forge variants` would print for the workspace, loaded in this process
 * (a forge process costs half a second; the CLI cases show that a ForgeError
 * is printed as exactly `forge: error: <format()>`, one line).
 */
async function loadError(ws: TempWorkspace): Promise<string> {
  try {
    const options = readForgeOptions(ws.root);
    buildGraph(await loadProjects(ws.root, options), ws.root);
    loadWheelGraph(ws.root, options);
  } catch (error) {
    expect(isForgeError(error), String(error)).toBe(true);
    return `forge: error: ${(error as ForgeError).format()}`;
  }
  return 'no error';
}

describe('bad input gives one line naming the file', () => {
  it('a YAML syntax error', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package:\n  name: bad\n  version: [1.0\n' });
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:\d+: YAML syntax error/);
  });

  it.each([
    ['', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:1: the recipe is empty \(it needs at least `package: \{name, version\}`\)$/],
    ['# nothing yet\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:1: the recipe is empty/],
    ['- package\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:1: a recipe must be a YAML mapping$/],
    ['package:\n\tname: bad\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:2: YAML syntax error: Tabs are not allowed as indentation$/],
    ['package:\n  name: bad\n  name: worse\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:3: YAML syntax error: Map keys must be unique$/],
    ['package: [bad, "1"]\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:1: `package` must be a mapping$/],
    ['package:\n  name: [bad]\n  version: "1"\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:2: `package\.name` must be text, got a list \(rattler-build refuses it\)$/],
    ['package: {name: bad, version: "1"}\nrequirements:\n  host: python\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:3: `requirements\.host` must be a list, got text \(rattler-build refuses it\)$/],
    ['package: {name: bad, version: "${{ 1 +"}\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:1: unclosed `\$\{\{`/],
    ['context: {v: "1"}\npackage: {name: bad, version: "${{ v | nofilter }}"}\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:2: unknown filter `nofilter` in .*: rattler-build has only abs, /],
    ['package: {name: bad, version: "${{ nofunc(1) }}"}\n', /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:1: unknown function `nofunc`/],
  ])('a malformed recipe: %j', (text, pattern) => {
    // In process: the CLI prints a ForgeError as `forge: error: <format()>`, one line (the cases above run it).
    const error = (() => {
      try {
        renderRecipe(parseRecipe(parseYamlText('pkgs/bad/recipe/recipe.yaml', text)), parseVariantConfig(parseYamlText('variants.yaml', VARIANTS)), { targetPlatform: 'linux-64' });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(isForgeError(error), String(error)).toBe(true);
    expect(`forge: error: ${(error as ForgeError).format()}`).toMatch(pattern);
  });

  it('a number as the package name is its text, as the engine reads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-name-'));
    try {
      writeFileSync(join(dir, 'recipe.yaml'), 'package:\n  name: 7\n  version: "1"\n');
      writeFileSync(join(dir, 'variants.yaml'), 'python: ["3.12"]\n');
      const job = { recipe: join(dir, 'recipe.yaml'), variants: join(dir, 'variants.yaml'), platform: 'linux-64' };
      const [engine] = await engineAnswers([job]);
      expect(engine).toMatchObject({ kept: [{ name: '7', version: '1', buildString: 'hb0f4dca_0', subdir: 'linux-64' }] });
      expect(differences(engine!, forgeAnswer(job))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an undefined Jinja variable', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package:\n  name: bad\n  version: ${{ version }}\n' });
    expectCleanError(ws.forge('variants', '--json'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:3: undefined variable `version`/);
  });

  it('match() without its spec in a build string, with the line', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nbuild:\n  string: ${{ "a" if match(python) else "b" }}\nrequirements:\n  host: [python]\n' });
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:3: build\.string: cannot evaluate .*: match\(\) takes a value and a version spec, as in match\(python, ">=3\.12"\); got 1 argument\(s\)$/);
  });

  it('a requirement cycle between two recipes', () => {
    const ws = setup({
      'pkgs/a/recipe/recipe.yaml': 'package: {name: a, version: "1"}\nrequirements:\n  host: [b]\n',
      'pkgs/b/recipe/recipe.yaml': 'package: {name: b, version: "1"}\nrequirements:\n  run: [a]\n',
    });
    expectCleanError(ws.forge('levels'), /^forge: error: pkgs\/a\/recipe\/recipe\.yaml:3: dependency cycle: a -> b -> a \(pkgs\/a\/recipe\/recipe\.yaml:3 needs b; pkgs\/b\/recipe\/recipe\.yaml:3 needs a\)$/);
  });

  it('a cycle of three, through a pin and an output, names each requirement\'s line', async () => {
    const ws = setup({
      'pkgs/a/recipe/recipe.yaml': 'package: {name: a, version: "1"}\nrequirements:\n  host:\n    - python\n    - ${{ pin_compatible("b") }}\n',
      'pkgs/b/recipe/recipe.yaml': 'recipe: {name: b, version: "1"}\noutputs:\n  - package: {name: b}\n    requirements:\n      run:\n        - if: linux\n          then: [c >=1]\n',
      'pkgs/c/recipe/recipe.yaml': 'package: {name: c, version: "1"}\nrequirements:\n  build: [a]\n',
    });
    expect(await loadError(ws)).toMatch(/^forge: error: pkgs\/a\/recipe\/recipe\.yaml:5: dependency cycle: a -> b -> c -> a \(pkgs\/a\/recipe\/recipe\.yaml:5 needs b; pkgs\/b\/recipe\/recipe\.yaml:7 needs c; pkgs\/c\/recipe\/recipe\.yaml:3 needs a\)$/);
  });

  it('a cycle between two wheel projects', async () => {
    const wheel = (name: string, needs: string) => `name: ${name}\nversion: "1"\nsource:\n  path: .\nvariant:\n  keys: [python]\nbuild:\n  requirements:\n    - setuptools\n    - ${needs}\n`;
    const ws = setup({ 'pkgs/w1/wheel/wheel.yaml': wheel('w1', 'W2 >=1'), 'pkgs/w2/wheel/wheel.yaml': wheel('w2', 'w1') });
    expect(await loadError(ws)).toMatch(/^forge: error: pkgs\/w1\/wheel\/wheel\.yaml:10: dependency cycle: w1 -> w2 -> w1 \(pkgs\/w1\/wheel\/wheel\.yaml:10 needs w2; pkgs\/w2\/wheel\/wheel\.yaml:10 needs w1\)$/);
  });

  it('a zip_keys length mismatch', () => {
    const ws = setup({ 'variants.yaml': `${VARIANTS}zip_keys:\n  - [python, cuda_version]\n` });
    expectCleanError(ws.forge('variants'), /^forge: error: variants\.yaml:3: zip_keys \[python, cuda_version\] must have lists of the same length: `python` has 2, `cuda_version` has 3$/);
  });

  it.each([
    ['zip_keys:\n  - [python, cuda_versio]\n', /^forge: error: variants\.yaml:4: zip_keys \[python, cuda_versio\] names `cuda_versio`, which this file does not define \(keys: python, cuda_version\)$/],
    ['zip_keys: [python, torch]\n', /^forge: error: variants\.yaml:3: zip_keys \[python, torch\] names `torch`, which/],
  ])('zip_keys naming a key no list defines: %j', async (zip, pattern) => {
    expect(await loadError(setup({ 'variants.yaml': `${VARIANTS}${zip}` }))).toMatch(pattern);
  });

  it('a patch file that does not exist', () => {
    const ws = setup({
      'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nsource:\n  url: https://example.invalid/x.tgz\n  sha256: abc\n  patches:\n    - patches/missing.patch\n',
    });
    expectCleanError(ws.forge('levels'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:6: patch `patches\/missing\.patch` does not exist/);
  });

  // One outside the recipe folder but inside the workspace is a build input like the folder (build.test.ts).
  it.each(['../../../../shared/src', '/opt/src', '../../../..'])('a source path outside the workspace (%s), whose edits would rebuild nothing', async (path) => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': `package: {name: bad, version: "1"}\nsource:\n  - url: https://example.invalid/x.tgz\n    sha256: abc\n  - if: linux\n    then:\n      path: ${path}\n` });
    expect(await loadError(ws)).toMatch(new RegExp(`^forge: error: pkgs/bad/recipe/recipe\\.yaml:7: source path \`${path.replace(/\./g, '\\.')}\` is outside the workspace: `));
  });

  it('a source path refused from where the recipe now is, although its text was rendered (and cached) where the path stayed inside', async () => {
    const recipe = 'package: {name: moved, version: "1"}\nsource:\n  path: ../../../../src\n';
    const ws = setup({ 'x/pkgs/moved/recipe/recipe.yaml': recipe, 'src/a.txt': 'a\n' });
    ws.edit('nx.json', (text) => text.replace('"options": {', '"options": {"recipesDir": "x/pkgs", '));
    expect(await loadError(ws)).toBe('no error');
    ws.write('pkgs/moved/recipe/recipe.yaml', recipe);
    ws.edit('nx.json', (text) => text.replace('"recipesDir": "x/pkgs", ', ''));
    expect(await loadError(ws)).toMatch(/^forge: error: pkgs\/moved\/recipe\/recipe\.yaml:3: source path `\.\.\/\.\.\/\.\.\/\.\.\/src` is outside the workspace: /);
  });

  it('a source path that is the workspace root (its node_modules, .nx and outputs would be in every key)', async () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nsource:\n  path: ../../..\n' });
    expect(await loadError(ws)).toMatch(/^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:3: source path `\.\.\/\.\.\/\.\.` is the workspace root: /);
  });

  it.each(['../../../../x.patch', '/opt/x.patch'])('a patch outside the workspace (%s), whose edits Nx would not see', async (patch) => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': `package: {name: bad, version: "1"}\nsource:\n  path: src\n  patches:\n    - ${patch}\n` });
    expect(await loadError(ws)).toMatch(new RegExp(`^forge: error: pkgs/bad/recipe/recipe\\.yaml:5: patch \`${patch.replace(/\./g, '\\.')}\` is outside the workspace: `));
  });

  it('a local source that does not exist, also when the recipe was rendered (and the plugin answered) while it did', async () => {
    const ws = setup({ 'pkgs/lib/recipe/recipe.yaml': 'package: {name: lib, version: "1"}\nsource:\n  - path: ../../../shared/lib-src\n', 'shared/lib-src/lib.txt': 'lib\n' });
    expect(await loadError(ws)).toBe('no error');
    expect(ws.nx('show', 'projects').code).toBe(0);
    rmSync(join(ws.root, 'shared'), { recursive: true });
    const message = /pkgs\/lib\/recipe\/recipe\.yaml:3: source path `\.\.\/\.\.\/\.\.\/shared\/lib-src` does not exist \(looked for shared\/lib-src\)/;
    expect(await loadError(ws)).toMatch(new RegExp(`^forge: error: ${message.source}$`));
    const nx = ws.nx('show', 'projects');
    expect(nx.code).not.toBe(0);
    expect(nx.stderr + nx.stdout).toMatch(message);
  });

  it('a patch entry naming a folder', async () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nsource:\n  path: src\n  patches:\n    - patches\n', 'pkgs/bad/recipe/patches/fix.patch': '' });
    expect(await loadError(ws)).toMatch(/^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:5: patch `patches` is not a file \(pkgs\/bad\/recipe\/patches\)$/);
  });

  it('a selector in variants.yaml, which forge does not evaluate (the engine does), is refused with its line', async () => {
    const ws = setup({ 'variants.yaml': 'python:\n  - "3.12"\n  - if: linux\n    then: "3.13"\n' });
    expect(await loadError(ws)).toMatch(/^forge: error: variants\.yaml:3: `python` value 2 is a selector \(`if:`\), which wv-forge does not evaluate in a variant config: /);
  });

  it('a variants.yaml that is not a mapping of lists', () => {
    const ws = setup({ 'variants.yaml': 'python: "3.12"\n' });
    expectCleanError(ws.forge('variants'), /^forge: error: variants\.yaml:1: `python` must be a list of values/);
  });

  const NX_JSON = (options: string) => `{\n  // wv-forge\n  "plugins": [{"plugin": "@wv-forge/forge/plugin", "options": {${options}}},],\n}\n`;

  it('nx.json with comments and trailing commas reads as Nx reads it', () => {
    // The option moves the recipes: Nx (its own parser, through the plugin) and forge must both see `moved` only.
    const ws = setup({ 'nx.json': NX_JSON('"recipesDir": "recipes",'), 'recipes/moved/recipe/recipe.yaml': GOOD.replace('name: good', 'name: moved') });
    const nx = ws.nx('show', 'projects', '--json');
    expect(nx.code, nx.stderr).toBe(0);
    expect(JSON.parse(nx.stdout)).toEqual(['moved']);
    const result = ws.forge('variants', '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as Array<{ project: string }>).map((p) => p.project)).toEqual(['moved']);
  });

  it('nx run <p>:upload with an uploadChannel of another scheme names nx.json, before anything builds', () => {
    const result = setup({ 'nx.json': NX_JSON('"uploadChannel": "ftp://example.invalid/channel"') }).nx('run', 'good:upload', '--output-style=stream');
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('nx.json: uploadChannel `ftp://example.invalid/channel`: only https:// (prefix.dev) and folders are supported');
    expect(result.stdout).not.toMatch(/building|built /);
  });

  it('Nx caches the variant folders where outputDir puts them', () => {
    const result = setup({ 'nx.json': NX_JSON('"outputDir": "out"') }).nx('show', 'project', 'good', '--json');
    expect(result.code).toBe(0);
    const targets = (JSON.parse(result.stdout) as { targets: Record<string, { outputs?: string[] }> }).targets;
    // It was `output/` whatever outputDir said: a cache hit restored nothing and reported success.
    expect(targets['build-py3.12']!.outputs).toEqual(['{workspaceRoot}/out/{projectName}/py3.12']);
  });

  it.each([
    ['"outputDir": "out" "x": 1', /^forge: error: nx\.json:3: JSON syntax error: CommaExpected$/],
    ['"channel": []', /^forge: error: nx\.json: unknown option `channel` for @wv-forge\/forge\/plugin \(known: /],
    ['"channels": "conda-forge"', /^forge: error: nx\.json: option `channels` must be a list of non-empty strings$/],
    ['"recipesDir": "../pkgs"', /^forge: error: nx\.json: option `recipesDir` must be a path inside the workspace, relative to its root, got `\.\.\/pkgs`$/],
    ['"outputDir": "/tmp/out"', /^forge: error: nx\.json: option `outputDir` must be a path inside the workspace/],
    ['"targetPlatform": "linux64"', /^forge: error: nx\.json: option `targetPlatform` must be a conda platform, got `linux64` \(known: linux-32, linux-64, /],
    ['"dockerImages": { "python3.11": "x" }', /^forge: error: nx\.json: option `dockerImages`: key `python3\.11` must be py<MAJOR\.MINOR>, cuda<MAJOR\.MINOR> or py<MAJOR\.MINOR>-cuda<MAJOR\.MINOR>$/],
    ['"dockerImages": { "py3.11": "" }', /^forge: error: nx\.json: option `dockerImages`: `py3\.11` must be a non-empty image name$/],
  ])('nx.json plugin options: %s', async (options, pattern) => {
    expect(await loadError(setup({ 'nx.json': NX_JSON(options) }))).toMatch(pattern);
  });

  it('a local channel in nx.json that does not exist', () => {
    const ws = setup({ 'nx.json': NX_JSON('"channels": ["./nope"], "artifactChannels": []') });
    for (const command of ['solve', 'plan']) {
      expectCleanError(ws.forge(command), /^forge: error: nx\.json: channel `\.\/nope` does not exist \(\S+\/nope\): fix `channels` in the options of @wv-forge\/forge\/plugin$/);
    }
  });

  it('a local artifact channel with nothing published yet is no channel to solve against, not an error', () => {
    const empty = '{"info": {}, "packages": {}, "packages.conda": {}, "repodata_version": 1}\n';
    const ws = setup({
      'nx.json': NX_JSON('"channels": ["./channel"], "artifactChannels": ["./published"]'),
      'channel/noarch/repodata.json': empty,
      'channel/linux-64/repodata.json': empty,
    });
    const result = ws.forge('solve', 'good');
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/python 3\.12\.\*.*no such package on any channel/);
    expect(result.code).toBe(1);
  });

  it('an output folder that cannot be written', () => {
    const ws = setup({ output: 'a file where the output folder goes\n' });
    expectCleanError(ws.forge('plan'), /^forge: error: output\/\.solve\/\S+: cannot \w+: not a directory \(ENOTDIR\)$/);
  });

  it.each([
    [['variants', '--jsn'], /^forge: error: unknown option '--jsn' \(Did you mean --json\?\) \(see forge variants --help\)$/],
    [['variant'], /^forge: error: unknown command 'variant' \(Did you mean variants\?\) \(see forge --help\)$/],
    [['plan', 'extra'], /^forge: error: too many arguments for 'plan'\. .* \(see forge plan --help\)$/],
    [['explain', 'good'], /^forge: error: missing required argument 'variant' \(see forge explain --help\)$/],
    [['explain', 'good', 'py9'], /^forge: error: good has no variant `py9` \(known: py3\.12, py3\.13\)$/],
    [['variants', 'nosuch', '--json'], /^forge: error: unknown package `nosuch` \(recipes: good\)$/],
    [['fetch', 'nosuch'], /^forge: error: unknown wheel project `nosuch` \(this workspace has no wheel projects\)$/],
  ])('forge %j', (args, pattern) => {
    const result = setup({}).forge(...args);
    expectCleanError(result, pattern);
    expect(result.code).toBe(2);
  });

  it('Nx reports the same problem with the file named', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package:\n  name: bad\n  version: ${{ version }}\n' });
    const result = ws.nx('show', 'projects');
    expect(result.code).not.toBe(0);
    expect(result.stderr + result.stdout).toContain('pkgs/bad/recipe/recipe.yaml:3: undefined variable `version`');
  });
});

/** What forge wrote earlier, damaged: each must read as absent (rebuild, re-render), never throw. */
const DAMAGED = ['{garbage', 'null', '[]', '5', '"text"', '{}', '{"key": "k"}', '{"key": "k", "files": "x", "inputs": {}}', '{"key": "k", "files": [{"file": 5}]}'];

describe('a damaged record or cache file counts as absent', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  };

  it.each(DAMAGED)('%s', (text) => {
    dir = mkdtempSync(join(tmpdir(), 'forge-damaged-'));
    const output = join(dir, 'output');
    write(join(output, 'p/v/manifest.json'), text);
    write(join(output, '.failed/p/v.json'), text);
    write(join(output, '.publish/run/records/p.json'), text);
    write(join(output, '.solve/p/v.json'), text);
    const store = new OutputStore(output);
    expect(store.readManifest('p', 'v')).toBeUndefined();
    expect(store.valid('p', 'v', 'k')).toBeUndefined();
    expect(store.failure('p', 'v')).toBeUndefined();
    expect(readPublishRecords(output, 'run', 'p')).toEqual([]);
    expect(readRecord(dir, DEFAULT_OPTIONS, 'p', 'v')).toBeUndefined();

    const data = join(dir, '.nx/workspace-data');
    write(join(data, 'forge-render-cache.json'), text);
    write(join(data, 'forge-nodes-cache.json'), text);
    const renders = RenderCache.forWorkspace(dir);
    expect(renders.get('k')).toBeUndefined();
    // The next save replaces the damaged file: a fresh reader (another process) finds the entry.
    renders.set('k', { rendered: [], patches: [], sources: [{ source: 'src', line: 3 }] });
    renders.save();
    expect(RenderCache.forWorkspace(dir).get('k')).toEqual({ rendered: [], patches: [], sources: [{ source: 'src', line: 3 }] });
    const nodes = new NodesCache(dir);
    expect(nodes.read('k')).toBeUndefined();
    nodes.write({ key: 'k', results: [], patches: [] });
    expect(new NodesCache(dir).read('k')).toEqual({ key: 'k', results: [], patches: [] });
  });

  it('a render cache entry of the wrong shape is a miss', () => {
    dir = mkdtempSync(join(tmpdir(), 'forge-damaged-'));
    write(join(dir, '.nx/workspace-data/forge-render-cache.json'), '{"k": 5, "j": {"rendered": "x", "patches": []}}');
    const renders = RenderCache.forWorkspace(dir);
    expect(renders.get('k')).toBeUndefined();
    expect(renders.get('j')).toBeUndefined();
  });

  it('forge plan and explain rebuild past a damaged manifest, without a stack trace', () => {
    const ws = setup({});
    ws.write('output/good/py3.12/manifest.json', '{"key": "k", "files": [{"file": "x"}]}');
    for (const result of [ws.forge('plan'), ws.forge('explain', 'good', 'py3.12')]) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    expect(ws.forge('plan').stdout).toMatch(/good:build-py3\.12 +build +\w+ +never built/);
  });
});

/**
 * Every field forge accepts, and a misspelled one per section, in a recipe of
 * its own, with a value of no fitting type (`~`): the engine must not call a
 * known field unknown, and both must refuse the misspelling.
 */
describe('recipe fields: forge refuses what rattler-build refuses', () => {
  const head = 'package:\n  name: x\n  version: "1"\n';
  const multi = (body: string) => `recipe:\n  name: x\n  version: "1"\noutputs:\n  - package: {name: y}\n${body}`;
  const nest = (path: string[], key: string) => path.map((part, i) => `${'  '.repeat(i)}${part}:\n`).join('') + `${'  '.repeat(path.length)}${key}: ~\n`;
  const SOURCES = { url: 'url: https://example.invalid/x.tgz', git: 'git: https://example.invalid/x.git', path: 'path: src' };
  const cases: Array<{ name: string; key: string; text: string; known: boolean }> = [];
  for (const [table, fields] of Object.entries(RECIPE_FIELDS)) {
    for (const key of [...fields, `${fields[0]}x`]) {
      const known = fields.includes(key);
      // The name and version a recipe needs are there already: a second one is a duplicate key.
      if (known && ['package', 'recipe'].includes(table)) continue;
      if (known && table === 'output' && key === 'package') continue;
      const text = table === 'recipe' ? multi('').replace('outputs:', `  ${key}: ~\noutputs:`)
        : table === 'output' ? multi(`    ${key}: ~\n`)
        : table === 'tests.script' ? `${head}tests:\n  - script: [echo]\n${key === 'script' ? '' : `    ${key}: ~\n`}`
        : table.startsWith('tests.') ? `${head}tests:\n  - ${table.slice(6)}:\n      ${key}: ~\n`
        : table === 'package' ? `${head}  ${key}: ~\n`
        : head + nest(table.split('.'), key);
      cases.push({ name: `${table}.${key}`, key, text, known });
    }
  }
  for (const [kind, fields] of Object.entries(SOURCE_FIELDS)) {
    for (const key of [...fields.filter((f) => f !== kind), 'sha265']) {
      // The engine refuses two of rev/tag/branch, so each is tried alone.
      const extra = kind === 'git' && !['rev', 'tag', 'branch'].includes(key) ? '\n  rev: abc' : '';
      cases.push({ name: `source(${kind}).${key}`, key, text: `${head}source:\n  ${SOURCES[kind as keyof typeof SOURCES]}${extra}\n  ${key}: ~\n`, known: fields.includes(key) });
    }
  }

  it('agree on every field', () => {
    const engine = engineStage0Errors(Object.fromEntries(cases.map((c) => [c.name, c.text])));
    const forge = (text: string) => {
      try {
        parseRecipe(parseYamlText('recipe.yaml', text));
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    };
    const disagree = cases.filter((c) => /unknown field/.test(engine[c.name]!) !== !c.known || /unknown field/.test(forge(c.text)) !== !c.known);
    expect(disagree.map((c) => `${c.name}: engine says ${engine[c.name] || 'ok'}; forge says ${forge(c.text) || 'ok'}`)).toEqual([]);
    // Each misspelling is refused for that field by both, not for something else in its case.
    const wrongReason = cases.filter((c) => !c.known && !(engine[c.name]!.includes(`unknown field '${c.key}'`) && forge(c.text).includes(`unknown field \`${c.key}\``)));
    expect(wrongReason.map((c) => `${c.name}: engine says ${engine[c.name]}; forge says ${forge(c.text)}`)).toEqual([]);
  });

  const SOURCE_KIND: Record<string, string> = { url: 'url', sha256: 'url', md5: 'url', file_name: 'url', attestation: 'url', git: 'git', rev: 'git', tag: 'git', branch: 'git', depth: 'git', lfs: 'git', expected_commit: 'git', submodules: 'git' };
  /** A recipe with `value` written as `field` (`build.python.version_independent`), in a section, source or test of its kind. */
  const place = (field: string, value: string): string => {
    const parts = field.split('.');
    if (field === 'staging' || field === 'inherit') return multi(`    ${field}: ${value}\n`);
    if (field === 'context') return `context: ${value}\n${head}`;
    if (parts.length === 1) return `${head}${field}: ${value}\n`;
    if (parts[0] === 'package') return field === 'package.name' ? `package:\n  name: ${value}\n  version: "1"\n` : `package:\n  name: x\n  version: ${value}\n`;
    if (parts[0] === 'recipe') return multi('').replace(`  ${parts[1]}: ${parts[1] === 'name' ? 'x' : '"1"'}\n`, `  ${parts[1]}: ${value}\n`);
    if (parts[0] === 'source') {
      const kind = SOURCE_KIND[parts[1]!] ?? 'path';
      const own = SOURCES[kind as keyof typeof SOURCES];
      return parts[1] === kind ? `${head}source:\n  ${kind}: ${value}\n` : `${head}source:\n  ${own}\n  ${parts[1]}: ${value}\n`;
    }
    if (field.startsWith('tests.script.')) return parts[2] === 'script' ? `${head}tests:\n  - script: ${value}\n` : `${head}tests:\n  - script: [echo]\n    ${parts[2]}: ${value}\n`;
    if (parts[0] === 'tests') return `${head}tests:\n  - ${parts[1]}:\n      ${parts[2]}: ${value}\n`;
    return head + parts.slice(0, -1).map((part, i) => `${'  '.repeat(i)}${part}:\n`).join('') + `${'  '.repeat(parts.length - 1)}${parts.at(-1)}: ${value}\n`;
  };
  /** Forge's refusal of a recipe text at load (`recipe.yaml:LINE: …`), or '' where it takes it. */
  const forgeSays = (text: string): string => {
    try {
      parseRecipe(parseYamlText('recipe.yaml', text));
      return '';
    } catch (error) {
      return (error as ForgeError).format();
    }
  };

  it('agree on the shape of every field (text, list, mapping) and of list items', () => {
    const VALUES = { text: '"1"', list: '["1"]', mapping: '{a: "1"}' };
    const ITEMS = { 'list item': '[["1"]]', 'mapping item': '[{a: "1"}]', 'conditional item': '[{if: linux, then: ["1"], else: "2"}]', 'conditional of a mapping': '[{if: linux, then: {a: "1"}}]' };
    const shapeCases: Array<{ name: string; text: string }> = [];
    for (const field of Object.keys(FIELD_SHAPES)) {
      for (const [shape, value] of Object.entries(VALUES)) shapeCases.push({ name: `${field}: ${shape}`, text: place(field, value) });
      if (TEXT_ITEMS.has(field)) for (const [shape, value] of Object.entries(ITEMS)) shapeCases.push({ name: `${field}: ${shape}`, text: place(field, value) });
    }
    const engine = engineStage0Errors(Object.fromEntries(shapeCases.map((c) => [c.name, c.text])));
    const forge = (text: string) => {
      try {
        parseRecipe(parseYamlText('recipe.yaml', text));
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    };
    const engineShape = /expected (scalar|sequence|mapping|string|boolean or list|a mapping)|non-(scalar|sequence|mapping|string)|but got (other|invalid type)/;
    const forgeShape = /must be (text|a list|a mapping)\b/;
    const disagree = shapeCases.filter((c) => engineShape.test(engine[c.name]!) !== forgeShape.test(forge(c.text)));
    expect(disagree.map((c) => `${c.name}: engine says ${engine[c.name] || 'ok'}; forge says ${forge(c.text) || 'ok'}`)).toEqual([]);
    // Every shape of the table is met by some case the engine refuses: the cases reach the engine's parser.
    expect(shapeCases.filter((c) => engineShape.test(engine[c.name]!)).length).toBeGreaterThan(Object.keys(FIELD_SHAPES).length);
  });

  it('a value of the wrong shape names its line and what the field takes', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nrequirements:\n  host:\n    - python\n    - if: linux\n      then: {numpy: 2}\nabout:\n  license: [MIT]\n' });
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:6: `requirements\.host\[1\]\.then` must be text or a list, got a mapping \(rattler-build refuses it\)$/);
    ws.edit('pkgs/bad/recipe/recipe.yaml', (text) => text.replace('then: {numpy: 2}', 'then: numpy'));
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:8: `about\.license` must be text, got a list \(rattler-build refuses it\)$/);
  });

  it("refuses a requirement with a bare version (conda-build's `numpy 1.26`) as the engine does, and nothing the engine accepts", () => {
    // The first are refused by the engine's strict parser; forge judges only the plain `name version [build]` form.
    const bare = ['demo-core 1.1', 'numpy 1.26', 'python 3.12', 'foo 1', 'foo 1.2 h123_0', 'foo 1.0.0a1', 'foo 2.0 *_cuda'];
    const accepted = ['foo', 'foo 1.1.*', 'foo >=1.1', 'foo >=1.0,<2', 'foo >= 1.0', 'foo >1.0 , <2', 'foo =1.0', 'foo ==1.0', 'foo 1.*', 'foo *', 'foo * cuda*',
      'foo 1.0.* py_0', 'foo ~=1.0', 'foo !=1.0', 'foo=1.0', 'foo>=1.0', 'conda-forge::foo >=1', 'foo[version=">=1.0"]', 'python 3.12.*', 'foo 2.0.* *_cuda', 'foo >=1,<2 *_cuda'];
    const others = ['foo 1.0|1.1', 'foo 1.0,<2', 'foo[version=1.0]', 'foo >=1.0.*'];
    const specs = [...bare, ...accepted, ...others];
    const text = (spec: string) => `package: {name: x, version: "1"}\nrequirements:\n  host:\n    - ${JSON.stringify(spec)}\n`;
    const engine = engineStage0Errors(Object.fromEntries(specs.map((spec) => [spec, text(spec)])));
    const forge = (spec: string) => {
      try {
        renderRecipe(parseRecipe(parseYamlText('recipe.yaml', text(spec))), parseVariantConfig(parseYamlText('variants.yaml', VARIANTS)), { targetPlatform: 'linux-64' });
        return '';
      } catch (error) {
        return (error as ForgeError).format();
      }
    };
    expect(bare.filter((spec) => !engine[spec])).toEqual([]);
    expect(accepted.filter((spec) => engine[spec])).toEqual([]);
    for (const spec of bare) {
      const reason = /missing range specifier for .*$/.exec(engine[spec]!)![0];
      expect(forge(spec)).toBe(`recipe.yaml:4: \`${spec}\` is not a match spec rattler-build accepts: ${reason}`);
    }
    expect(accepted.filter((spec) => forge(spec))).toEqual([]);
    // What forge leaves to the engine (which refuses it too): no refusal of something the engine takes.
    expect(others.filter((spec) => forge(spec) && !engine[spec])).toEqual([]);
  });

  it('refuses a license that is no SPDX expression by its grammar or its ids, as the engine does, and nothing the engine accepts', () => {
    const ungrammatical = ['MIT License', 'Apache 2.0', 'BSD 3-Clause', 'GNU GPL v3', 'MIT, BSD-3-Clause', 'MIT AND', 'OR MIT', 'MIT AND OR Apache-2.0', ''];
    // Ids off the SPDX list, deprecated ones, and ids in the wrong case: refused by forge with the id named.
    const unlisted = ['NotALicense-1.0', 'BSD', 'Proprietary', 'MIT/Apache-2.0', 'LLVM-exception'];
    const deprecated = ['GPL-3.0', 'LGPL-2.1', 'GPL-2.0+', 'wxWindows'];
    const accepted = ['MIT', 'Apache-2.0', 'MIT OR Apache-2.0', 'MIT or Apache-2.0', '(MIT OR Apache-2.0)', 'MIT AND (LGPL-2.1-or-later OR BSD-3-Clause)', 'Apache-2.0 WITH LLVM-exception', ' MIT ', 'LicenseRef-Proprietary',
      'DocumentRef-spdx:LicenseRef-x', 'NOASSERTION', 'Apache-2.0+', 'GFDL-1.3-invariants', 'Apache-2.0 WITH PCRE2-exception'];
    // What forge leaves to the engine, which refuses it: `+` after a GNU id, a license where an exception stands.
    const leftToEngine = ['GPL-2.0-only+', 'Apache-2.0 WITH MIT'];
    const text = (license: string) => `package: {name: x, version: "1"}\nabout:\n  license: ${JSON.stringify(license)}\n`;
    const licenses = [...ungrammatical, ...unlisted, ...deprecated, 'mit', 'MIT AND (BSD OR Apache-2.0)', ...accepted, ...leftToEngine];
    const engine = engineStage0Errors(Object.fromEntries(licenses.map((l) => [l, text(l)])), true);
    const forge = (license: string) => forgeSays(text(license));
    expect([...ungrammatical, ...unlisted, ...deprecated, 'mit'].filter((l) => !/invalid value for 'license'/.test(engine[l]!))).toEqual([]);
    expect(accepted.filter((l) => engine[l])).toEqual([]);
    expect(leftToEngine.filter((l) => !engine[l])).toEqual([]);
    for (const l of ungrammatical) expect(forge(l)).toBe(`recipe.yaml:3: \`about.license\` \`${l}\` is not an SPDX license expression, which rattler-build requires (ids such as MIT, Apache-2.0, BSD-3-Clause, joined by AND, OR, WITH)`);
    for (const l of unlisted) expect(forge(l)).toBe(`recipe.yaml:3: \`about.license\` \`${l}\` is not on the SPDX license list rattler-build checks against (see https://spdx.org/licenses, or write LicenseRef-<name> for a license of your own)`);
    expect(deprecated.filter((l) => !/a deprecated license identifier was used/.test(engine[l]!))).toEqual([]);
    expect(forge('GPL-3.0')).toBe('recipe.yaml:3: `about.license` `GPL-3.0` is a deprecated SPDX id, which rattler-build refuses (write GPL-3.0-only or GPL-3.0-or-later)');
    expect(deprecated.filter((l) => !/is a deprecated SPDX id, which rattler-build refuses/.test(forge(l)))).toEqual([]);
    expect(forge('mit')).toBe('recipe.yaml:3: `about.license` `mit` is not on the SPDX license list rattler-build checks against (write `MIT`: ids are case-sensitive)');
    expect(forge('MIT AND (BSD OR Apache-2.0)')).toMatch(/^recipe\.yaml:3: `about\.license` `MIT AND \(BSD OR Apache-2\.0\)` uses `BSD`, which is not on the SPDX license list/);
    expect([...accepted, ...leftToEngine].filter((l) => forge(l))).toEqual([]);
  });

  it('every id of the SPDX list forge reads: the engine takes each that forge takes, and refuses each that forge refuses', () => {
    const require = createRequire(import.meta.url);
    const listed = require('spdx-license-ids') as string[];
    const deprecated = require('spdx-license-ids/deprecated.json') as string[];
    // The GNU roots (`GFDL-1.3-invariants`), which forge takes where they are not deprecated.
    const roots = listed.filter((id) => id.endsWith('-only')).map((id) => id.slice(0, -'-only'.length));
    const ids = [...new Set([...listed, ...deprecated, ...roots])];
    const text = (license: string) => `package: {name: x, version: "1"}\nabout:\n  license: ${license}\n`;
    const engine = engineStage0Errors(Object.fromEntries(ids.map((id) => [id, text(id)])), true);
    const forge = (id: string) => forgeSays(text(id));
    expect(ids.filter((id) => !engine[id] && forge(id)).map((id) => `${id}: ${forge(id)}`)).toEqual([]);
    expect(ids.filter((id) => forge(id) && !/a deprecated license identifier was used/.test(engine[id]!)).map((id) => `${id}: ${engine[id]}`)).toEqual([]);
    // The ids forge takes and the engine does not are only ids newer than the engine's list (left to it, with its message).
    expect(ids.filter((id) => !forge(id) && engine[id] && !/unknown term/.test(engine[id]!))).toEqual([]);
    expect(ids.filter((id) => !forge(id) && engine[id]).length).toBeLessThan(listed.length / 20);
    expect(deprecated.filter((id) => !forge(id))).toEqual([]);
  });

  it('agree on every boolean field: the words each takes and refuses', () => {
    const WORDS = ['true', 'True', 'TRUE', 'false', 'False', 'FALSE', '"true"', "'False'", 'yes', 'Yes', 'No', '"no"', 'YES', 'on', 'off', '1', '0', 'maybe', '"maybe"', 'yes-please', '""', '"${{ true }}"', '"${{ not win }}"'];
    const cases = Object.keys(BOOLEAN_FIELDS).flatMap((field) => WORDS.map((word) => ({ field, word, name: `${field}: ${word}`, text: place(field, word) })));
    const engine = engineStage0Errors(Object.fromEntries(cases.map((c) => [c.name, c.text])));
    const disagree = cases.filter((c) => Boolean(engine[c.name]) !== Boolean(forgeSays(c.text)));
    expect(disagree.map((c) => `${c.name}: engine says ${engine[c.name] || 'ok'}; forge says ${forgeSays(c.text) || 'ok'}`)).toEqual([]);
    // Each refusal is for the word, named on its line; every field takes some words and refuses others.
    expect(cases.filter((c) => engine[c.name] && !/^recipe\.yaml:\d+: `[^`]+` is .*, where rattler-build takes a boolean: /.test(forgeSays(c.text))).map((c) => c.name)).toEqual([]);
    for (const field of Object.keys(BOOLEAN_FIELDS)) {
      const refused = cases.filter((c) => c.field === field && engine[c.name]).length;
      expect(refused, field).toBeGreaterThan(0);
      expect(refused, field).toBeLessThan(WORDS.length);
    }
    expect(forgeSays(place('build.merge_build_and_host_envs', 'maybe'))).toBe('recipe.yaml:5: `build.merge_build_and_host_envs` is the text "maybe", where rattler-build takes a boolean: true or false, unquoted, or a ${{ … }} template');
    expect(forgeSays(place('build.python.version_independent', 'True'))).toBe('recipe.yaml:6: `build.python.version_independent` is `True`, where rattler-build takes a boolean: true or false, or a ${{ … }} template');
    expect(forgeSays(place('source.lfs', 'yes-please'))).toBe('recipe.yaml:6: `source.lfs` is the text "yes-please", where rattler-build takes a boolean: true or false, unquoted, or a ${{ … }} template');
  });

  it('a license off the SPDX list and a word that is no boolean name their line', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nbuild:\n  python:\n    version_independent: yes-please\nabout:\n  license: NotALicense-1.0\n' });
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:4: `build\.python\.version_independent` is the text "yes-please", where rattler-build takes a boolean: true or false, or a \$\{\{ … \}\} template$/);
    ws.edit('pkgs/bad/recipe/recipe.yaml', (text) => text.replace('yes-please', 'true'));
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:6: `about\.license` `NotALicense-1\.0` is not on the SPDX license list rattler-build checks against \(see https:\/\/spdx\.org\/licenses, or write LicenseRef-<name> for a license of your own\)$/);
  });

  it('refuses an about link that is no absolute URL, as the engine does, and nothing the engine accepts', () => {
    const refused = ['x.org', 'github.com/a/b', '/abs/path', './rel', 'git@github.com:a/b.git', 'https//x.org', ''];
    const accepted = ['https://x.org', 'http://localhost', 'localhost:8080', 'mailto:a@b.c', 'file:///x', ' https://x.org '];
    const text = (field: string, url: string) => `package: {name: x, version: "1"}\nabout:\n  ${field}: ${JSON.stringify(url)}\n`;
    const cases = ['homepage', 'repository', 'documentation'].flatMap((field) => [...refused, ...accepted].map((url) => ({ field, url, name: `${field} ${url}` })));
    const engine = engineStage0Errors(Object.fromEntries(cases.map((c) => [c.name, text(c.field, c.url)])));
    const forge = (field: string, url: string) => {
      try {
        parseRecipe(parseYamlText('recipe.yaml', text(field, url)));
        return '';
      } catch (error) {
        return (error as ForgeError).format();
      }
    };
    expect(cases.filter((c) => refused.includes(c.url) !== Boolean(engine[c.name])).map((c) => `${c.name}: ${engine[c.name] || 'ok'}`)).toEqual([]);
    expect(cases.filter((c) => refused.includes(c.url) !== Boolean(forge(c.field, c.url))).map((c) => `${c.name}: ${forge(c.field, c.url) || 'ok'}`)).toEqual([]);
    expect(forge('homepage', 'github.com/a/b')).toBe('recipe.yaml:3: `about.homepage` `github.com/a/b` is not an absolute URL, which rattler-build requires (write https://github.com/a/b)');
  });

  it('a test entry of no kind, in an if branch, names its line', () => {
    expect(() => parseRecipe(parseYamlText('recipe.yaml', `${head}tests:\n  - if: linux\n    then:\n      - scirpt: [echo]\n`))).toThrow(
      expect.objectContaining({ line: 7, message: 'a test needs one of: python, perl, r, ruby, script, downstream, package_contents' }),
    );
  });

  it('names the line of the misspelled field', () => {
    const ws = setup({ 'pkgs/bad/recipe/recipe.yaml': 'package: {name: bad, version: "1"}\nrequirements:\n  host: [python]\n  hots: [numpy]\n' });
    expectCleanError(ws.forge('variants'), /^forge: error: pkgs\/bad\/recipe\/recipe\.yaml:4: unknown field `hots` in `requirements` \(rattler-build knows: build, host, run, /);
  });
});

/**
 * The engine's own stage-0 parse of each recipe text (py-rattler-build's Stage0Recipe), in one process:
 * name -> '' or its error's first line (`whole`: all of it on one line, where the reason follows the first).
 */
function engineStage0Errors(recipes: Record<string, string>, whole = false): Record<string, string> {
  const probe = [
    'import json, sys',
    'from rattler_build import Stage0Recipe',
    'out = {}',
    'for name, text in json.load(sys.stdin).items():',
    '    try:',
    '        Stage0Recipe.from_yaml(text); out[name] = ""',
    '    except Exception as error:',
    `        out[name] = ${whole ? '" ".join(str(error).split())' : 'str(error).split("\\n")[0]'}`,
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync(enginePython(), ['-c', probe], { input: JSON.stringify(recipes), encoding: 'utf8' })) as Record<string, string>;
}
