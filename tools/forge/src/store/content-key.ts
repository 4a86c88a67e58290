import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { RecipeGraph, VariantTask } from '../graph/recipe-graph.js';
import { sortedKeys } from '../variants/keys.js';

/** Everything a variant's build depends on, named so `forge explain` can say which one changed. */
export interface KeyInputs {
  /** Recipe folder files (recipe.yaml, patches, scripts): relative path -> sha256. */
  readonly files: Readonly<Record<string, string>>;
  /** Each output package's variant: the key/values that go into its build hash. */
  readonly variant: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Upstream variant tasks (`project/id`) -> their content keys. */
  readonly upstream: Readonly<Record<string, string>>;
  readonly engine: string;
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
    for (const need of [...task.needs].sort((a, b) => `${a.project}/${a.id}`.localeCompare(`${b.project}/${b.id}`))) {
      const upstreamTask = this.graph.tasks.get(need.project)!.find((t) => t.id === need.id)!;
      upstream[`${need.project}/${need.id}`] = this.of(upstreamTask).key;
    }
    const variant: Record<string, Record<string, string>> = {};
    for (const output of task.outputs) variant[output.name] = Object.fromEntries(sortedKeys(output.variant).map((k) => [k, output.variant[k]!]));
    const inputs: KeyInputs = { files: this.recipeFiles(posix.dirname(project.recipeFile)), variant, upstream, engine: this.engine };
    const key = createHash('sha256').update(JSON.stringify(inputs)).digest('hex');
    const result = { key, inputs };
    this.memo.set(id, result);
    return result;
  }

  private recipeFiles(dir: string): Record<string, string> {
    let files = this.fileHashes.get(dir);
    if (!files) {
      files = {};
      for (const file of listFiles(join(this.root, dir))) {
        files[file] = createHash('sha256').update(readFileSync(join(this.root, dir, file))).digest('hex');
      }
      this.fileHashes.set(dir, files);
    }
    return files;
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (entry.name === 'output' || entry.name === '.pixi') continue;
      out.push(...listFiles(join(dir, entry.name), rel));
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
  diff('recipe file', before.files, after.files);
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
