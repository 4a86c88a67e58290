import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS } from '../src/config/forge-config.js';
import { ForgeError } from '../src/errors.js';
import { buildGraph } from '../src/graph/recipe-graph.js';
import { loadWheelProjects } from '../src/graph/wheel-graph.js';
import { loadProjects } from '../src/graph/workspace.js';
import type { RecipeProject } from '../src/graph/workspace.js';
import { changedFiles, ContentKeys, explainChange, folderFiles, hashInputs, recipeInputFiles, type KeyInputs } from '../src/store/content-key.js';
import { SourceCache } from '../src/store/source-cache.js';
import { resolveWheelSource, WHEEL_PIPELINE, wheelKey, wheelSourceTree } from '../src/store/wheel-keys.js';

/**
 * The parts of the content key that content-key.test.ts reaches only through a
 * whole workspace: the file listing, the change explanation `forge explain`
 * prints, the key of a task built against an upstream it does not share keys
 * with, and the wheel task's key and source. Each is computed inside its test,
 * so a mutation tool can tell which test covers which line.
 */
const scratch = mkdtempSync(join(tmpdir(), 'forge-key-units-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let count = 0;
function tree(files: Record<string, string>): string {
  const root = join(scratch, `t${count++}`);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe('folder listing', () => {
  it('hashes every file by its relative path, sorted, leaving out output/ and .pixi/ folders and the names asked', () => {
    const root = tree({ 'b.txt': 'b', 'a/z.txt': 'z', 'a/y/x.txt': 'x', 'output/linux-64/p.conda': 'p', '.pixi/env': 'e', 'sub/.git/HEAD': 'h', 'sub/output': 'a file named output' });
    symlinkSync('b.txt', join(root, 'link'));
    const files = folderFiles(root, new Set(['.git']));
    expect(Object.keys(files)).toEqual(['a/y/x.txt', 'a/z.txt', 'b.txt', 'sub/output']);
    expect(files['a/z.txt']).toBe(sha256('z'));
    expect(Object.keys(folderFiles(root))).toContain('sub/.git/HEAD');
  });

  it('names the files added, removed and changed, sorted', () => {
    expect(changedFiles({ c: '3', b: '2', a: '1' }, { d: '4', c: '3', b: '9' })).toEqual(['a', 'b', 'd']);
    expect(changedFiles({ a: '1' }, { a: '1' })).toEqual([]);
  });

  it('adds the recipe\'s inputs outside its folder by their path from it: a folder without git files, a single file, nothing for a missing path', () => {
    const root = tree({ 'pkgs/lib/recipe/recipe.yaml': 'r', 'pkgs/lib/src/a.c': 'a', 'pkgs/lib/src/.git/HEAD': 'h', 'pkgs/lib/src/.forge-source.json': '{}', 'patches/fix.patch': 'p' });
    const project = { recipeFile: 'pkgs/lib/recipe/recipe.yaml', outsideInputs: ['pkgs/lib/src', 'patches/fix.patch', 'pkgs/lib/gone'] } as Partial<RecipeProject> as RecipeProject;
    expect(recipeInputFiles(root, project)).toEqual({ 'recipe.yaml': sha256('r'), '../src/a.c': sha256('a'), '../../../patches/fix.patch': sha256('p') });
  });
});

describe('the key of a set of inputs', () => {
  const inputs: KeyInputs = { files: { 'recipe.yaml': 'h' }, variant: { lib: { python: '3.12' } }, upstream: {}, engine: 'e' };

  it('is the sha256 of the inputs as JSON: equal inputs, equal keys; any field changed, another key', () => {
    expect(hashInputs(inputs)).toBe(sha256(JSON.stringify(inputs)));
    expect(hashInputs({ ...inputs })).toBe(hashInputs(inputs));
    expect(hashInputs({ ...inputs, engine: 'f' })).not.toBe(hashInputs(inputs));
    expect(hashInputs({ ...inputs, source: { path: 'src' } })).not.toBe(hashInputs(inputs));
  });

  it('explains a change input by input, in the words forge explain prints', () => {
    const before: KeyInputs = { files: { a: '1', b: '2' }, variant: { lib: { python: '3.12', cuda_version: '12.6' } }, upstream: { 'up/v1': 'k1', 'gone/v1': 'k' }, engine: 'e1' };
    const after: KeyInputs = { files: { b: '3', c: '4' }, variant: { lib: { python: '3.13', numpy: '2.0' }, extra: { x: 1 } }, upstream: { 'up/v1': 'k2', 'new/v1': 'k' }, engine: 'e2' };
    expect(explainChange(before, after)).toEqual([
      'recipe file removed: a',
      'recipe file changed: b',
      'recipe file added: c',
      'variant value changed: lib python 3.12 -> 3.13',
      'variant value changed: lib cuda_version 12.6 -> (unset)',
      'variant value changed: lib numpy (unset) -> 2.0',
      'variant value changed: extra x (unset) -> 1',
      'upstream changed: up/v1',
      'upstream removed: gone/v1',
      'upstream added: new/v1',
      'engine changed: e1 -> e2',
    ]);
    expect(explainChange(before, before)).toEqual([]);
  });

  it('explains a wheel key change with its source and toolchain, and calls its files files', () => {
    const before: KeyInputs = { files: { 'wheel.yaml': '1' }, variant: {}, upstream: {}, engine: 'w', source: { git: 'u', commit: 'c1' }, toolchain: { nvcc: '12.6' } };
    const after: KeyInputs = { ...before, files: { 'wheel.yaml': '2' }, source: { git: 'u', commit: 'c2' }, toolchain: { python: '3.12' } };
    expect(explainChange(before, after)).toEqual([
      'file changed: wheel.yaml',
      'source commit changed: c1 -> c2',
      'toolchain nvcc changed: 12.6 -> (unset)',
      'toolchain python changed: (unset) -> 3.12',
    ]);
    expect(explainChange({ ...after, source: undefined, toolchain: undefined }, after)).toEqual(['source git changed: (unset) -> u', 'source commit changed: (unset) -> c2', 'toolchain python changed: (unset) -> 3.12']);
    expect(explainChange(after, { ...after, source: undefined, toolchain: undefined })).toEqual(['source git changed: u -> (unset)', 'source commit changed: c2 -> (unset)', 'toolchain python changed: 3.12 -> (unset)']);
  });
});

describe('the key of a task built against an upstream with other variant keys', () => {
  const FILES: Record<string, string> = {
    'variants.yaml': 'python: ["3.12"]\ncuda_version: ["12.6"]\n',
    'pkgs/base/recipe/recipe.yaml': 'package: {name: base, version: "1.0"}\nrequirements:\n  host: [python]\n',
    'pkgs/extra/recipe/recipe.yaml': 'package: {name: extra, version: "1.0"}\nrequirements:\n  host: [python]\n',
    'pkgs/kernels/recipe/recipe.yaml': 'package: {name: kernels, version: "1.0"}\nrequirements:\n  host: [python, cuda-version, extra, base]\n',
    'pkgs/kernels2/recipe/recipe.yaml': 'package: {name: kernels2, version: "1.0"}\nrequirements:\n  host: [python, cuda-version]\n',
    'pkgs/tool/recipe/recipe.yaml': 'package: {name: tool, version: "1.0"}\nrequirements:\n  host: [python, kernels, kernels2]\n',
  };
  async function keys(changes: Record<string, string> = {}): Promise<Record<string, KeyInputs & { key: string }>> {
    const root = tree({ ...FILES, ...changes });
    const graph = buildGraph(await loadProjects(root, DEFAULT_OPTIONS), root);
    const content = new ContentKeys(root, graph, 'engine 1');
    return Object.fromEntries([...graph.tasks.values()].flat().map((task) => {
      const first = content.of(task);
      expect(content.of(task), 'asked twice').toBe(first);
      return [`${task.project}:${task.id}`, { ...first.inputs, key: first.key }];
    }));
  }

  it('counts the upstream recipe and its dependencies, not which of its variants the matrix has', async () => {
    const base = await keys();
    const tool = base['tool:py3.12']!;
    expect(Object.keys(tool.upstream)).toEqual(['kernels/*', 'kernels2/*']);
    expect(tool.upstream['kernels/*']).toMatch(/^[0-9a-f]{64}$/);
    expect(tool.upstream['kernels/*'], 'each upstream recipe has its own key').not.toBe(tool.upstream['kernels2/*']);
    const kernels = base['kernels:py3.12-cuda12.6']!;
    expect(kernels.upstream).toEqual({ 'base/py3.12': base['base:py3.12']!.key, 'extra/py3.12': base['extra:py3.12']!.key });
    expect(Object.keys(kernels.variant)).toEqual(['kernels']);
    expect(kernels.variant.kernels).toMatchObject({ cuda_version: '12.6', python: '3.12' });
    expect(Object.keys(kernels.variant.kernels!)).toEqual(Object.keys(kernels.variant.kernels!).sort());
    const twoCudas = await keys({ 'variants.yaml': 'python: ["3.12"]\ncuda_version: ["12.6", "12.9"]\n' });
    expect(twoCudas['tool:py3.12']!.key).toBe(tool.key);
    expect(twoCudas['kernels:py3.12-cuda12.9']).toBeDefined();
    const kernelsChanged = await keys({ 'pkgs/kernels/recipe/build.sh': 'make\n' });
    expect(kernelsChanged['tool:py3.12']!.key).not.toBe(tool.key);
    const baseChanged = await keys({ 'pkgs/base/recipe/build.sh': 'make\n' });
    expect(baseChanged['tool:py3.12']!.key, 'a dependency of the upstream changed').not.toBe(tool.key);
    expect(baseChanged['tool:py3.12']!.files).toEqual(tool.files);
    const extraChanged = await keys({ 'pkgs/extra/recipe/build.sh': 'make\n' });
    expect(extraChanged['tool:py3.12']!.key, 'the other dependency of the upstream changed').not.toBe(tool.key);
    expect(extraChanged['tool:py3.12']!.upstream['kernels2/*']).toBe(tool.upstream['kernels2/*']);
  });
});

describe('the key of a wheel task', () => {
  const WHEEL = 'name: demo\nversion: 0.1.0\nsource:\n  path: ../src\n  patches: [fix.patch, more/second.patch]\nvariant:\n  keys: [python]\n';
  function project(changes: Record<string, string> = {}) {
    const root = tree({ 'pkgs/demo/wheel/wheel.yaml': WHEEL, 'pkgs/demo/wheel/fix.patch': 'p1', 'pkgs/demo/wheel/more/second.patch': 'p2', 'pkgs/demo/src/setup.py': 's', 'pkgs/demo/src/.git/HEAD': 'h', 'pkgs/demo/src/.forge-source.json': '{}', ...changes });
    return { root, project: loadWheelProjects(root, ['pkgs/demo/wheel/wheel.yaml'])[0]! };
  }
  const task = { project: 'demo', id: 'py3.12', values: { python: '3.12' }, needs: [], unmet: [] };
  const parts = { source: { id: { path: 'src' }, commit: undefined }, toolchain: { kind: 'host' }, upstream: { 'up/py3.12': 'k' } };

  it('has the wheel folder (patches included) and the local source (without git files), the variant, upstream, toolchain and pipeline', () => {
    const { root, project: p } = project();
    const { key, inputs } = wheelKey(root, p, task, parts);
    expect(inputs).toEqual({
      files: { 'fix.patch': sha256('p1'), 'more/second.patch': sha256('p2'), 'wheel.yaml': sha256(WHEEL), '../src/setup.py': sha256('s') },
      variant: { demo: { python: '3.12' } },
      upstream: { 'up/py3.12': 'k' },
      engine: WHEEL_PIPELINE,
      source: { path: 'src' },
      toolchain: { kind: 'host' },
    });
    expect(key).toBe(hashInputs(inputs));
  });

  it('leaves a git source\'s files to its commit', () => {
    const { root, project: p } = project({ 'pkgs/demo/wheel/wheel.yaml': `name: demo\nversion: 0.1.0\nsource:\n  git: https://example.com/x.git\n  rev: ${'a'.repeat(40)}\nvariant:\n  keys: [python]\n` });
    expect(Object.keys(wheelKey(root, p, task, parts).inputs.files)).toEqual(['fix.patch', 'more/second.patch', 'wheel.yaml']);
  });

  it('resolves a local source to its path from the project, a rev as is, a tag through the source cache', async () => {
    const sources = new SourceCache(join(scratch, `sources${count++}`));
    const local = project({ 'pkgs/demo/wheel/wheel.yaml': WHEEL.replace('path: ../src', 'path: ../src\n  subdirectory: py') });
    expect(await resolveWheelSource(local.project, sources)).toEqual({ id: { path: 'src', subdirectory: 'py' }, commit: undefined });
    const rev = 'b'.repeat(40);
    const pinned = project({ 'pkgs/demo/wheel/wheel.yaml': `name: demo\nversion: 0.1.0\nsource:\n  git: https://example.com/x.git\n  rev: ${rev}\nvariant:\n  keys: [python]\n` });
    expect(await resolveWheelSource(pinned.project, sources, true)).toEqual({ id: { git: 'https://example.com/x.git', commit: rev }, commit: rev });

    const repo = join(scratch, `repo${count++}`);
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim();
    mkdirSync(repo);
    git('init', '--quiet');
    git('commit', '--quiet', '--allow-empty', '-m', 'one');
    git('tag', 'v1');
    const tagged = project({ 'pkgs/demo/wheel/wheel.yaml': `name: demo\nversion: 0.1.0\nsource:\n  git: ${repo}\n  tag: v1\nvariant:\n  keys: [python]\n` });
    expect(await resolveWheelSource(tagged.project, sources, true), 'offline, never resolved').toBeUndefined();
    const commit = git('rev-parse', 'HEAD');
    expect(await resolveWheelSource(tagged.project, sources)).toEqual({ id: { git: repo, commit }, commit });
    expect(await resolveWheelSource(tagged.project, sources, true), 'offline, recorded').toEqual({ id: { git: repo, commit }, commit });

    const files = await wheelSourceTree(tagged.project, sources, commit, () => {});
    expect(files).toBe(sources.treeDir(repo, commit));
    expect(existsSync(files)).toBe(true);
    expect(() => wheelSourceTree(local.project, sources, commit, () => {})).toThrow('demo has no git source');
    const gone = 'c'.repeat(40);
    const unknown = project({ 'pkgs/demo/wheel/wheel.yaml': `name: demo\nversion: 0.1.0\nsource:\n  git: ${repo}\n  rev: ${gone}\nvariant:\n  keys: [python]\n` });
    const treeError = await wheelSourceTree(unknown.project, sources, gone, () => {}).catch((e: unknown) => e);
    expect((treeError as ForgeError).format()).toBe(`pkgs/demo/wheel/wheel.yaml:5: commit ${gone} does not exist in ${repo}`);

    const missing = project({ 'pkgs/demo/wheel/wheel.yaml': `name: demo\nversion: 0.1.0\nsource:\n  git: ${repo}\n  tag: v9\nvariant:\n  keys: [python]\n` });
    const error = await resolveWheelSource(missing.project, sources).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ForgeError);
    expect((error as ForgeError).format()).toBe(`pkgs/demo/wheel/wheel.yaml:5: tag \`v9\` does not exist in ${repo}`);
  });
});
