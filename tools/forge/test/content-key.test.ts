import { cpSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS } from '../src/config/forge-config.js';
import { buildGraph } from '../src/graph/recipe-graph.js';
import { loadProjects } from '../src/graph/workspace.js';
import { changedFiles, ContentKeys, explainChange, folderFiles, type KeyInputs } from '../src/store/content-key.js';

/**
 * The content key without a build: each input that must change a variant's key
 * changes it, each that must not (checkout path, mtimes, git's files, the order
 * keys are written in, an unrelated recipe) does not. The end-to-end builds show
 * the same through the engine, slowly; this names the input that broke.
 */
const scratch = mkdtempSync(join(tmpdir(), 'forge-content-key-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const FILES: Record<string, string> = {
  'variants.yaml': 'python: ["3.12"]\ncuda_version: ["12.6"]\n',
  'pkgs/lib/recipe/recipe.yaml': [
    'package: {name: lib, version: "1.0"}',
    'source:',
    '  path: ../src',
    '  patches: [fix.patch]',
    'build:',
    '  script: [make]',
    'requirements:',
    '  host: [python, cuda-version]',
    '',
  ].join('\n'),
  'pkgs/lib/recipe/fix.patch': '--- a/lib.c\n+++ b/lib.c\n',
  'pkgs/lib/src/lib.c': 'int lib(void) { return 1; }\n',
  'pkgs/app/recipe/recipe.yaml': 'package: {name: app, version: "1.0"}\nrequirements:\n  host: [python, cuda-version, lib]\n',
  'pkgs/other/recipe/recipe.yaml': 'package: {name: other, version: "1.0"}\nrequirements:\n  host: [python]\n',
};

let count = 0;
/** A fresh workspace of FILES with some files changed (undefined removes one), in a folder of its own. */
function workspace(changes: Record<string, string | undefined> = {}, extra: (root: string) => void = () => {}): string {
  const root = join(scratch, `ws${count++}`);
  for (const [path, text] of Object.entries({ ...FILES, ...changes })) {
    if (text === undefined) continue;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  extra(root);
  return root;
}

/** project:id -> key and inputs, for every variant task of the workspace. */
async function contentKeys(root: string, engine = 'py-rattler-build 0.73.0'): Promise<Record<string, { key: string; inputs: KeyInputs }>> {
  const graph = buildGraph(await loadProjects(root, DEFAULT_OPTIONS), root);
  const content = new ContentKeys(root, graph, engine);
  return Object.fromEntries([...graph.tasks.values()].flat().map((task) => [`${task.project}:${task.id}`, content.of(task)]));
}

/** project:id -> key. */
async function keys(root: string, engine?: string): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await contentKeys(root, engine)).map(([task, { key }]) => [task, key]));
}

/** The keys of FILES as they are, computed once, inside a test: an error there fails tests instead of the file's load. */
let baseKeys: Promise<Record<string, string>> | undefined;
const baseline = () => (baseKeys ??= keys(workspace()));
const TASKS = ['app:py3.12-cuda12.6', 'lib:py3.12-cuda12.6', 'other:py3.12'];

describe('the content key', () => {
  it('has one key per variant task of the workspace', async () => {
    expect(Object.keys(await baseline()).sort()).toEqual(TASKS);
  });

  it.each([
    ['the recipe text', { 'pkgs/lib/recipe/recipe.yaml': FILES['pkgs/lib/recipe/recipe.yaml']!.replace('[make]', '[make install]') }],
    ['a patch', { 'pkgs/lib/recipe/fix.patch': '--- a/lib.c\n+++ b/lib.c\n@@ -0,0 +1 @@\n' }],
    ['a file added to the recipe folder', { 'pkgs/lib/recipe/build.sh': 'make\n' }],
    ['a local source file outside the recipe folder', { 'pkgs/lib/src/lib.c': 'int lib(void) { return 2; }\n' }],
    ['a local source file renamed', { 'pkgs/lib/src/lib.c': undefined, 'pkgs/lib/src/lib2.c': FILES['pkgs/lib/src/lib.c'] }],
  ])('changes with %s, for the package and what builds against it, not for the others', async (_name, changes) => {
    const [base, after] = [await baseline(), await keys(workspace(changes))];
    expect(after['lib:py3.12-cuda12.6']).not.toBe(base['lib:py3.12-cuda12.6']);
    expect(after['app:py3.12-cuda12.6']).not.toBe(base['app:py3.12-cuda12.6']);
    expect(after['other:py3.12']).toBe(base['other:py3.12']);
  });

  it('changes with the engine version, for every task', async () => {
    const [base, after] = [await baseline(), await keys(workspace(), 'py-rattler-build 0.74.0')];
    for (const task of TASKS) expect(after[task], task).not.toBe(base[task]);
  });

  it('changes with a variant value the recipe uses (another task), not with one it does not use', async () => {
    const moved = await keys(workspace({ 'variants.yaml': 'python: ["3.13"]\ncuda_version: ["12.6"]\n' }));
    expect(Object.keys(moved).sort()).toEqual(['app:py3.13-cuda12.6', 'lib:py3.13-cuda12.6', 'other:py3.13']);
    const unused = await keys(workspace({ 'variants.yaml': `${FILES['variants.yaml']}numpy: ["2.0"]\n` }));
    expect(unused).toEqual(await baseline());
  });

  it('differs between two variants of one recipe, by the values each uses', async () => {
    const two = await contentKeys(workspace({ 'variants.yaml': 'python: ["3.12", "3.13"]\ncuda_version: ["12.6"]\n' }));
    expect(two['other:py3.12']!.key).not.toBe(two['other:py3.13']!.key);
    expect(two['other:py3.13']!.inputs.variant).toEqual({ other: { python: '3.13', target_platform: 'linux-64' } });
  });

  it('names the upstream variant a task builds against, with its key; an upstream that varies in more keys by its recipe key', async () => {
    const matrix = { 'variants.yaml': 'python: ["3.12"]\ncuda_version: ["12.6", "12.8"]\n', 'pkgs/tool/recipe/recipe.yaml': 'package: {name: tool, version: "1.0"}\nbuild: {noarch: generic}\nrequirements:\n  host: [lib]\n' };
    const two = await contentKeys(workspace(matrix));
    for (const cuda of ['12.6', '12.8']) {
      expect(two[`app:py3.12-cuda${cuda}`]!.inputs.upstream).toEqual({ [`lib/py3.12-cuda${cuda}`]: two[`lib:py3.12-cuda${cuda}`]!.key });
    }
    // A noarch package on a CUDA one: the solver picks a lib variant, so what counts is lib's recipe, not today's CUDA list.
    expect(Object.keys(two['tool:noarch']!.inputs.upstream)).toEqual(['lib/*']);
    const three = await contentKeys(workspace({ ...matrix, 'variants.yaml': matrix['variants.yaml'].replace('"12.8"]', '"12.8", "12.9"]') }));
    expect(three['tool:noarch']!.key).toBe(two['tool:noarch']!.key);
    const edited = await contentKeys(workspace({ ...matrix, 'pkgs/lib/src/lib.c': 'int lib(void) { return 3; }\n' }));
    expect(edited['tool:noarch']!.key).not.toBe(two['tool:noarch']!.key);
  });

  it('does not change with the checkout path, mtimes, git files in a local source, or the order the variant keys are written in', async () => {
    const base = await baseline();
    const copy = join(scratch, 'elsewhere', 'deeper');
    cpSync(workspace(), copy, { recursive: true });
    expect(await keys(copy)).toEqual(base);
    const touched = workspace({}, (root) => {
      for (const path of Object.keys(FILES)) utimesSync(join(root, path), new Date(2001, 0, 1), new Date(2001, 0, 1));
    });
    expect(await keys(touched)).toEqual(base);
    const withGit = workspace({ 'pkgs/lib/src/.git/HEAD': 'ref: refs/heads/main\n', 'pkgs/lib/src/.forge-source.json': '{}' });
    expect(await keys(withGit)).toEqual(base);
    const reordered = workspace({ 'variants.yaml': 'cuda_version: ["12.6"]\npython: ["3.12"]\n' });
    expect(await keys(reordered)).toEqual(base);
    // A build's output or a pixi environment left in the recipe folder is not an input.
    const leftovers = workspace({ 'pkgs/lib/recipe/output/linux-64/lib-1.0-h0_0.conda': 'x', 'pkgs/lib/recipe/.pixi/envs/default/x': 'y' });
    expect(await keys(leftovers)).toEqual(base);
  });

  it('lists a folder by relative path, sorted, subfolders included, and tells which files changed', () => {
    const root = workspace({ 'pkgs/lib/recipe/scripts/b.sh': 'b', 'pkgs/lib/recipe/scripts/a.sh': 'a' });
    const files = folderFiles(join(root, 'pkgs/lib/recipe'));
    expect(Object.keys(files)).toEqual(['fix.patch', 'recipe.yaml', 'scripts/a.sh', 'scripts/b.sh']);
    expect(files['scripts/a.sh']).toBe('ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb'); // sha256 of `a`
    const withoutPatch = Object.fromEntries(Object.entries(files).filter(([file]) => file !== 'fix.patch'));
    expect(changedFiles(files, { ...withoutPatch, 'scripts/a.sh': 'other', 'new.txt': 'n' })).toEqual(['fix.patch', 'new.txt', 'scripts/a.sh']);
    expect(changedFiles(files, { ...files })).toEqual([]);
  });

  it('is explained input by input: what forge explain prints', () => {
    const before: KeyInputs = { files: { 'recipe.yaml': 'a', 'old.patch': 'p' }, variant: { lib: { python: '3.12' } }, upstream: { 'lib/x': 'k1' }, engine: 'e1' };
    const after: KeyInputs = { files: { 'recipe.yaml': 'b', 'new.patch': 'q' }, variant: { lib: { python: '3.13', cuda_version: '12.6' } }, upstream: { 'lib/x': 'k2', 'core/*': 'k3' }, engine: 'e2' };
    expect(explainChange(before, after)).toEqual([
      'recipe file changed: recipe.yaml',
      'recipe file removed: old.patch',
      'recipe file added: new.patch',
      'variant value changed: lib python 3.12 -> 3.13',
      'variant value changed: lib cuda_version (unset) -> 12.6',
      'upstream changed: lib/x',
      'upstream added: core/*',
      'engine changed: e1 -> e2',
    ]);
    expect(explainChange(after, after)).toEqual([]);
    // A wheel task: its source and toolchain, and its files are not recipe files.
    const wheel = (source: Record<string, string>, toolchain: Record<string, string>): KeyInputs => ({ files: { 'src/a.c': source.commit! }, variant: {}, upstream: {}, engine: 'e', source, toolchain });
    expect(explainChange(wheel({ commit: 'a' }, { python: '3.11' }), wheel({ commit: 'b' }, { python: '3.12', nvcc: '13.0' }))).toEqual([
      'file changed: src/a.c',
      'source commit changed: a -> b',
      'toolchain python changed: 3.11 -> 3.12',
      'toolchain nvcc changed: (unset) -> 13.0',
    ]);
  });
});
