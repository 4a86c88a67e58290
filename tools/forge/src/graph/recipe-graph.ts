import { join } from 'node:path';
import { ForgeError } from '../errors.js';
import { readYamlFile } from '../recipe/yaml-file.js';
import { normalizeKey, sortedKeys, type Variant, type VariantValue } from '../variants/keys.js';
import type { RenderedVariant } from '../variants/render.js';
import { buildable, type RecipeProject } from './workspace.js';

/** One unit of work: the outputs of one recipe for one variant. */
export interface VariantTask {
  readonly project: string;
  /** Readable and unique within the project: `py3.12-cuda12.6`, `noarch`, `linux-64`. */
  readonly id: string;
  /** The variant values that tell this task from its siblings (no platform keys). */
  readonly values: Variant;
  readonly outputs: readonly RenderedVariant[];
  /** Tasks that must finish first: the matching variants of the packages it needs. */
  readonly needs: ReadonlyArray<{ readonly project: string; readonly id: string }>;
  /** Local packages it needs that have no variant matching this one (it cannot build). */
  readonly unmet: readonly string[];
}

export interface RecipeGraph {
  readonly projects: ReadonlyMap<string, RecipeProject>;
  /** Project -> projects it depends on (build, host or run). */
  readonly dependencies: ReadonlyMap<string, ReadonlySet<string>>;
  readonly tasks: ReadonlyMap<string, readonly VariantTask[]>;
}

/** Keys that say where a package is built or published, not what it is: never in an id. */
const PLACE_KEYS = new Set(['target_platform', 'build_platform', 'channel_targets', 'channel_sources']);

/** `root` is the workspace root, where the recipe files are read to name a cycle's lines. */
export function buildGraph(projects: readonly RecipeProject[], root: string): RecipeGraph {
  const byProject = new Map(projects.map((p) => [p.name, p]));
  const producer = new Map<string, string>();
  for (const project of projects) {
    for (const variant of project.rendered) {
      const other = producer.get(variant.name);
      if (other && other !== project.name) {
        throw new ForgeError(`package \`${variant.name}\` is produced by two recipes: ${byProject.get(other)!.recipeFile} and ${project.recipeFile}`, { file: project.recipeFile });
      }
      producer.set(variant.name, project.name);
    }
  }

  const tasks = new Map<string, VariantTask[]>();
  const dependencies = new Map<string, Set<string>>();
  const draft = new Map<string, Array<{ id: string; values: Variant; outputs: RenderedVariant[] }>>();
  for (const project of projects) {
    const ownNames = new Set(project.rendered.map((v) => normalizeKey(v.name)));
    const groups = new Map<string, { id: string; values: Variant; outputs: RenderedVariant[] }>();
    for (const variant of buildable(project)) {
      const values = taskValues(variant.variant, ownNames);
      const base = taskId(values, variant.subdir);
      const signature = JSON.stringify(values) + variant.subdir;
      const existing = [...groups.values()].find((g) => JSON.stringify(g.values) + g.outputs[0]!.subdir === signature);
      if (existing) existing.outputs.push(variant);
      else {
        const id = groups.has(base) ? `${base}-h${variant.hash}` : base;
        groups.set(id, { id, values, outputs: [variant] });
      }
    }
    draft.set(project.name, [...groups.values()]);
    const deps = new Set<string>();
    for (const variant of project.rendered) {
      for (const section of ['build', 'host', 'run'] as const) {
        for (const req of variant.requirements[section]) {
          const target = producer.get(req.name);
          if (target && target !== project.name) deps.add(target);
        }
      }
    }
    dependencies.set(project.name, deps);
  }

  for (const project of projects) {
    const own = draft.get(project.name)!;
    tasks.set(
      project.name,
      own.map((task) => {
        const needs: Array<{ project: string; id: string }> = [];
        const unmet = new Set<string>();
        const seen = new Set<string>();
        for (const output of task.outputs) {
          for (const section of ['build', 'host', 'run'] as const) {
            for (const req of output.requirements[section]) {
              const target = producer.get(req.name);
              if (!target) continue;
              let matched = false;
              for (const candidate of draft.get(target)!) {
                if (candidate === task || !candidate.outputs.some((o) => o.name === req.name)) continue;
                if (!agree(task.values, candidate.values)) continue;
                matched = true;
                const key = `${target}\0${candidate.id}`;
                if (!seen.has(key)) {
                  seen.add(key);
                  needs.push({ project: target, id: candidate.id });
                }
              }
              if (!matched && target !== project.name) unmet.add(req.name);
            }
          }
        }
        return { project: project.name, id: task.id, values: task.values, outputs: task.outputs, needs, unmet: [...unmet].sort() };
      }),
    );
  }
  assertAcyclic(new Map(projects.map((p) => [p.name, p.recipeFile])), dependencies, (project, needs) => {
    const names = new Set(draft.get(needs)!.flatMap((task) => task.outputs.map((o) => o.name)));
    return requirementLine(join(root, byProject.get(project)!.recipeFile), names);
  });
  return { projects: byProject, dependencies, tasks };
}

/** Two variants fit together when they agree on every key both have. */
export function agree(a: Variant, b: Variant): boolean {
  return Object.keys(a).every((key) => b[key] === undefined || b[key] === a[key]);
}

/** Python first, then NumPy, then the rest by name: `py3.12-cuda12.6` reads as people say it. */
const ID_ORDER = ['python', 'numpy'];
const ALIASES: Record<string, string> = { python: 'py', cuda_version: 'cuda', numpy: 'np' };

/**
 * A readable id for a variant, from its values alone: `py3.12-cuda12.6`,
 * `py3.12-cuda13.0-torch2.11.0`. Never from how many values a key has in the
 * matrix today, so shrinking a key to one value or growing it from one renames
 * nothing, and outputs and caches keyed by the id stay valid. Empty for no values.
 */
export function variantId(values: Readonly<Record<string, VariantValue>>): string {
  const keys = sortedKeys(values).sort((a, b) => rank(a) - rank(b));
  return keys.map((key) => `${ALIASES[key] ?? key}${values[key]}`).join('-').replace(/[^A-Za-z0-9._-]/g, '_');
}

/** The values that tell a task from its siblings: the variant less place keys, internal keys and the recipe's own outputs. */
function taskValues(variant: Variant, ownNames: ReadonlySet<string>): Variant {
  const values: Record<string, VariantValue> = {};
  for (const key of sortedKeys(variant)) {
    if (PLACE_KEYS.has(key) || key.startsWith('__') || ownNames.has(key)) continue;
    values[key] = variant[key]!;
  }
  return values;
}

/** The values in id order: python, numpy, then the rest by name. */
export function idOrder(values: Variant): Variant {
  return Object.fromEntries(sortedKeys(values).sort((a, b) => rank(a) - rank(b)).map((key) => [key, values[key]!]));
}

function rank(key: string): number {
  const index = ID_ORDER.indexOf(key);
  return index === -1 ? ID_ORDER.length : index;
}

/**
 * The id of a variant task (`build-<id>`, `wheel-<id>`): its values' {@link variantId},
 * `noarch` first for noarch packages, the subdir when no key varies it.
 */
export function taskId(values: Variant, subdir: string): string {
  const id = variantId(values);
  if (subdir === 'noarch') return id ? `noarch-${id}` : 'noarch';
  return id || subdir;
}

/**
 * Project name -> its file, for the message, and the line of the requirement
 * that makes each edge (looked up only when there is a cycle). Shared by
 * recipes and wheel projects.
 */
export function assertAcyclic(
  projects: ReadonlyMap<string, string>,
  dependencies: ReadonlyMap<string, ReadonlySet<string>>,
  lineOf: (project: string, needs: string) => number | undefined,
): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      const edges = cycle.slice(0, -1).map((project, i) => {
        const line = lineOf(project, cycle[i + 1]!);
        return { file: projects.get(project)!, line, text: `${projects.get(project)}${line ? `:${line}` : ''} needs ${cycle[i + 1]}` };
      });
      throw new ForgeError(`dependency cycle: ${cycle.join(' -> ')} (${edges.map((e) => e.text).join('; ')})`, { file: edges[0]!.file, line: edges[0]!.line });
    }
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of [...(dependencies.get(name) ?? [])].sort()) visit(dep);
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of [...projects.keys()].sort()) visit(name);
}

/** Packages in topological levels: each level needs only packages of earlier levels. */
export function levels(graph: RecipeGraph): string[][] {
  const remaining = new Set(graph.projects.keys());
  const placed = new Set<string>();
  const result: string[][] = [];
  while (remaining.size) {
    const level = [...remaining].filter((name) => [...(graph.dependencies.get(name) ?? [])].every((dep) => placed.has(dep))).sort();
    if (level.length === 0) throw new ForgeError(`dependency cycle among: ${[...remaining].sort().join(', ')}`);
    for (const name of level) {
      remaining.delete(name);
      placed.add(name);
    }
    result.push(level);
  }
  return result;
}

/**
 * The line of the first requirement (build, host or run, in any output or
 * branch) that names one of `names`: read again from the recipe, as renders
 * come from the cache without their YAML.
 */
function requirementLine(file: string, names: ReadonlySet<string>): number | undefined {
  const yaml = readYamlFile(file);
  const found = (node: unknown, path: ReadonlyArray<string | number>): ReadonlyArray<string | number> | undefined => {
    if (typeof node === 'string') return names.has(/^\s*(?:\$\{\{\s*\w+\(\s*['"])?([A-Za-z0-9_.-]+)/.exec(node)?.[1] ?? '') ? path : undefined;
    if (Array.isArray(node)) {
      for (const [i, item] of node.entries()) {
        const hit = found(item, [...path, i]);
        if (hit) return hit;
      }
    } else if (typeof node === 'object' && node !== null) {
      for (const branch of ['then', 'else']) {
        const hit = found((node as Record<string, unknown>)[branch], [...path, branch]);
        if (hit) return hit;
      }
    }
    return undefined;
  };
  const top = yaml.value as Record<string, unknown>;
  const units: Array<[unknown, ReadonlyArray<string | number>]> = [[top, []], ...((Array.isArray(top.outputs) ? top.outputs : []) as unknown[]).map((o, i) => [o, ['outputs', i]] as [unknown, Array<string | number>])];
  for (const [unit, path] of units) {
    const requirements = (unit as { requirements?: Record<string, unknown> } | null)?.requirements;
    for (const section of ['build', 'host', 'run']) {
      const hit = requirements && found(requirements[section], [...path, 'requirements', section]);
      if (hit) return yaml.lineOf(hit);
    }
  }
  return undefined;
}
