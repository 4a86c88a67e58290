import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { RecipeGraph, VariantTask } from '../graph/recipe-graph.js';
import type { RecipeProject } from '../graph/workspace.js';
import { sortedKeys, type VariantValue } from '../variants/keys.js';

/** Everything a variant's build depends on, named so `forge explain` can say which one changed. */
export interface KeyInputs {
  /** Recipe folder files (recipe.yaml, patches, scripts), then local sources and patches outside it (`../src/…`): relative path -> sha256. */
  readonly files: Readonly<Record<string, string>>;
  /** Each output package's variant: the key/values that go into its build hash. */
  readonly variant: Readonly<Record<string, Readonly<Record<string, VariantValue>>>>;
  /** Upstream variant tasks (`project/id`) -> their content keys. */
  readonly upstream: Readonly<Record<string, string>>;
  readonly engine: string;
  /** Wheel tasks: the source (git url and resolved commit, or a local folder). */
  readonly source?: Readonly<Record<string, string>>;
  /** Wheel tasks: the environment kind and the versions of its python, nvcc, torch, compiler, image. */
  readonly toolchain?: Readonly<Record<string, string>>;
}

/** The key of a set of inputs: the same inputs give the same key on any machine. */
export function hashInputs(inputs: KeyInputs): string {
  return createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
}

/**
 * Names a local source's key leaves out at any depth: git's own files change
 * whenever git looks at the clone (rattler-build's path source and the wheel
 * build's copy leave them out too), and the source cache's marker.
 */
export const UNCOPIED_SOURCE_FILES: ReadonlySet<string> = new Set(['.git', '.forge-source.json']);

/** relative path -> sha256 of every file under a folder, sorted; checkout paths do not matter. `skip`: names left out at any depth. */
export function folderFiles(dir: string, skip: ReadonlySet<string> = new Set()): Record<string, string> {
  const files: Record<string, string> = {};
  for (const file of listFiles(dir, skip)) files[file] = createHash('sha256').update(readFileSync(join(dir, file))).digest('hex');
  return files;
}

/** The files added, removed or changed between two `folderFiles` listings, sorted. */
export function changedFiles(before: Readonly<Record<string, string>>, after: Readonly<Record<string, string>>): string[] {
  return [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((file) => before[file] !== after[file]).sort();
}

/**
 * The files a recipe's builds read from this workspace: its folder, and the
 * local sources and patches outside it, named relative to the folder. A path
 * that does not exist counts as no files (the engine then fails on it).
 */
export function recipeInputFiles(root: string, project: RecipeProject): Record<string, string> {
  const dir = posix.dirname(project.recipeFile);
  const files = folderFiles(join(root, dir));
  for (const path of project.outsideInputs) {
    const name = posix.relative(dir, path);
    let isDirectory: boolean;
    try {
      isDirectory = statSync(join(root, path)).isDirectory();
    } catch {
      continue;
    }
    if (isDirectory) for (const [file, hash] of Object.entries(folderFiles(join(root, path), UNCOPIED_SOURCE_FILES))) files[`${name}/${file}`] = hash;
    else files[name] = createHash('sha256').update(readFileSync(join(root, path))).digest('hex');
  }
  return files;
}

export interface ContentKey {
  readonly key: string;
  readonly inputs: KeyInputs;
}

/**
 * Content keys for variant tasks: the same inputs give the same key on any
 * machine and in any checkout path (only relative paths and contents count).
 */
export class ContentKeys {
  private readonly memo = new Map<string, ContentKey>();
  private readonly fileHashes = new Map<string, Record<string, string>>();

  constructor(
    private readonly root: string,
    private readonly graph: RecipeGraph,
    private readonly engine: string,
  ) {}

  of(task: VariantTask): ContentKey {
    const id = `${task.project}/${task.id}`;
    const cached = this.memo.get(id);
    if (cached) return cached;
    const project = this.graph.projects.get(task.project)!;
    const upstream: Record<string, string> = {};
    const byProject = new Map<string, string[]>();
    for (const need of task.needs) byProject.set(need.project, [...(byProject.get(need.project) ?? []), need.id]);
    for (const [dependency, ids] of [...byProject].sort(([a], [b]) => a.localeCompare(b))) {
      const only = ids.length === 1 ? this.graph.tasks.get(dependency)!.find((t) => t.id === ids[0])! : undefined;
      if (only && Object.keys(only.values).every((key) => key in task.values)) {
        upstream[`${dependency}/${only.id}`] = this.of(only).key;
      } else {
        // The upstream varies in keys this task does not have (a noarch package on a
        // CUDA one): the solver picks one of its variants, so what counts is the
        // upstream recipe, not which variants the matrix has today; adding a CUDA
        // version, or going down to one, must not rebuild this.
        upstream[`${dependency}/*`] = this.recipeKey(dependency);
      }
    }
    const variant: Record<string, Record<string, VariantValue>> = {};
    for (const output of task.outputs) variant[output.name] = Object.fromEntries(sortedKeys(output.variant).map((k) => [k, output.variant[k]!]));
    const inputs: KeyInputs = { files: this.recipeFiles(project), variant, upstream, engine: this.engine };
    const key = hashInputs(inputs);
    const result = { key, inputs };
    this.memo.set(id, result);
    return result;
  }

  /** A recipe's key apart from its variants: its files and its dependencies' recipe keys. */
  private recipeKey(project: string): string {
    const id = `${project}/*`;
    const cached = this.memo.get(id);
    if (cached) return cached.key;
    const dependencies = [...(this.graph.dependencies.get(project) ?? [])].sort();
    const inputs: KeyInputs = {
      files: this.recipeFiles(this.graph.projects.get(project)!),
      variant: {},
      upstream: Object.fromEntries(dependencies.map((d) => [`${d}/*`, this.recipeKey(d)])),
      engine: this.engine,
    };
    const key = hashInputs(inputs);
    this.memo.set(id, { key, inputs });
    return key;
  }

  private recipeFiles(project: RecipeProject): Record<string, string> {
    let files = this.fileHashes.get(project.name);
    if (!files) {
      files = recipeInputFiles(this.root, project);
      this.fileHashes.set(project.name, files);
    }
    return files;
  }
}

function listFiles(dir: string, skip: ReadonlySet<string>, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (skip.has(entry.name)) continue;
    if (entry.isDirectory()) {
      if (entry.name === 'output' || entry.name === '.pixi') continue;
      out.push(...listFiles(join(dir, entry.name), skip, rel));
    } else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** Which inputs differ between two keys' inputs, in words. */
export function explainChange(before: KeyInputs, after: KeyInputs): string[] {
  const changes: string[] = [];
  const diff = (kind: string, a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) => {
    for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(name in a)) changes.push(`${kind} added: ${name}`);
      else if (!(name in b)) changes.push(`${kind} removed: ${name}`);
      else if (a[name] !== b[name]) changes.push(`${kind} changed: ${name}`);
    }
  };
  diff(after.toolchain ? 'file' : 'recipe file', before.files, after.files);
  const valued = (kind: string, a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) => {
    for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[name] !== b[name]) changes.push(`${kind} ${name} changed: ${a[name] ?? '(unset)'} -> ${b[name] ?? '(unset)'}`);
    }
  };
  valued('source', before.source ?? {}, after.source ?? {});
  valued('toolchain', before.toolchain ?? {}, after.toolchain ?? {});
  for (const name of new Set([...Object.keys(before.variant), ...Object.keys(after.variant)])) {
    const a = before.variant[name] ?? {};
    const b = after.variant[name] ?? {};
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[key] !== b[key]) changes.push(`variant value changed: ${name} ${key} ${a[key] ?? '(unset)'} -> ${b[key] ?? '(unset)'}`);
    }
  }
  diff('upstream', before.upstream, after.upstream);
  if (before.engine !== after.engine) changes.push(`engine changed: ${before.engine} -> ${after.engine}`);
  return changes;
}
