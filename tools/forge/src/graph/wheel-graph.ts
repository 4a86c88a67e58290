import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';
import { normalizeDistName, parseWheelSpec, requirementName, type WheelSpec } from '../recipe/wheel-spec.js';
import { discoverProjectFiles, WHEEL_FILE_SUFFIX } from './workspace.js';
import type { Variant } from '../variants/keys.js';
import { combinations, type VariantConfig } from '../variants/variant-config.js';
import { agree, assertAcyclic, idOrder, taskId } from './recipe-graph.js';
import { readVariantConfig } from './variant-config-file.js';

/** A wheel project: `pkgs/<name>/wheel/wheel.yaml`, the Nx project of `pkgs/<name>`. */
export interface WheelProject {
  readonly name: string;
  readonly root: string;
  readonly file: string;
  readonly spec: WheelSpec;
}

/** One wheel build: a project for one combination of its variant keys. */
export interface WheelTask {
  readonly project: string;
  readonly id: string;
  /** The variant values, in id order (python first). */
  readonly values: Variant;
  /** The upstream wheel tasks it builds against (one per upstream project). */
  readonly needs: ReadonlyArray<{ readonly project: string; readonly id: string }>;
  /** Upstream wheel projects with no variant matching this one (it cannot build). */
  readonly unmet: readonly string[];
}

export interface WheelGraph {
  readonly projects: ReadonlyMap<string, WheelProject>;
  readonly dependencies: ReadonlyMap<string, ReadonlySet<string>>;
  readonly tasks: ReadonlyMap<string, readonly WheelTask[]>;
}

/** The id of a task that uses no variant key: one wheel for every Python. */
const NO_KEYS_ID = 'any';

/** Parses the wheel files and checks that the files they name exist. */
export function loadWheelProjects(root: string, files: readonly string[]): WheelProject[] {
  return files.map((file) => {
    let text: string;
    try {
      text = readFileSync(join(root, file), 'utf8');
    } catch {
      throw new ForgeError('wheel project file not found', { file });
    }
    const spec = parseWheelSpec(file, text);
    spec.source.patches.forEach((patch, i) => {
      const found = existsSync(join(root, patch)) ? (statSync(join(root, patch)).isFile() ? 'file' : 'folder') : undefined;
      if (found !== 'file') throw new ForgeError(`patch \`${posix.relative(posix.dirname(file), patch)}\` ${found ? 'is a folder, not a patch file' : 'does not exist'} (looked for ${patch})`, { file, line: spec.yaml.lineOf(['source', 'patches', i]) });
    });
    if (spec.source.kind === 'path') {
      const dir = join(root, spec.source.path);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ForgeError(`source path \`${spec.source.path}\` is not a folder`, { file, line: spec.yaml.lineOf(['source', 'path']) });
    }
    const projectRoot = posix.dirname(posix.dirname(file));
    return { name: posix.basename(projectRoot), root: projectRoot, file, spec };
  });
}

/**
 * One task per combination of each project's variant keys (zip_keys vary
 * together), and each task's upstream: for every requirement naming another
 * wheel project, that project's one variant that agrees with this one.
 */
export function buildWheelGraph(projects: readonly WheelProject[], config: VariantConfig, platform: string): WheelGraph {
  const byProject = new Map(projects.map((p) => [p.name, p]));
  const byDistName = new Map<string, WheelProject>();
  for (const project of projects) {
    const dist = normalizeDistName(project.spec.name);
    const other = byDistName.get(dist);
    if (other) throw new ForgeError(`wheel \`${project.spec.name}\` is built by two projects: ${other.file} and ${project.file}`, { file: project.file, line: project.spec.yaml.lineOf(['name']) });
    byDistName.set(dist, project);
  }

  const draft = new Map<string, Array<{ id: string; values: Variant }>>();
  const dependencies = new Map<string, Set<string>>();
  for (const project of projects) {
    const { keys } = project.spec.variant;
    keys.forEach((key, i) => {
      if (!config.values.has(key) && !(key in project.spec.variant.values)) {
        throw new ForgeError(`variant key \`${key}\` is not in ${config.file} (it has ${[...config.values.keys()].join(', ')})`, { file: project.file, line: project.spec.yaml.lineOf(['variant', 'keys', i]) });
      }
    });
    const combos = keys.length ? combinations(projectConfig(config, project), new Set(keys)) : [{}];
    draft.set(project.name, combos.map((combo) => {
      const values = idOrder(combo);
      return { id: keys.length ? taskId(values, platform) : NO_KEYS_ID, values };
    }));
    const deps = new Set<string>();
    for (const spec of project.spec.build.requirements) {
      const name = requirementName(spec);
      const upstream = name && byDistName.get(name);
      if (upstream && upstream !== project) deps.add(upstream.name);
    }
    dependencies.set(project.name, deps);
  }
  assertAcyclic(new Map(projects.map((p) => [p.name, p.file])), dependencies, (project, needs) => {
    const { spec } = byProject.get(project)!;
    const i = spec.build.requirements.findIndex((requirement) => requirementName(requirement) === normalizeDistName(byProject.get(needs)!.spec.name));
    return i === -1 ? undefined : spec.yaml.lineOf(['build', 'requirements', i]);
  });

  const tasks = new Map<string, WheelTask[]>();
  for (const project of projects) {
    tasks.set(project.name, draft.get(project.name)!.map((task) => {
      const needs: Array<{ project: string; id: string }> = [];
      const unmet: string[] = [];
      for (const dependency of [...dependencies.get(project.name)!].sort()) {
        const matching = draft.get(dependency)!.filter((candidate) => agree(task.values, candidate.values));
        if (matching.length === 0) unmet.push(dependency);
        else if (matching.length > 1) {
          const extra = byProject.get(dependency)!.spec.variant.keys.filter((key) => !(key in task.values));
          throw new ForgeError(
            `${project.name} (${task.id}) builds against ${dependency}, which has ${matching.length} variants for it (${dependency} also varies over ${extra.join(', ')}): add ${extra.join(', ')} to variant.keys`,
            { file: project.file, line: project.spec.yaml.lineOf(['variant', 'keys']) },
          );
        } else needs.push({ project: dependency, id: matching[0]!.id });
      }
      return { project: project.name, id: task.id, values: task.values, needs, unmet };
    }));
  }
  return { projects: byProject, dependencies, tasks };
}

/** variants.yaml with the project's own `variant.values`; zipped keys must still have lists of one length. */
function projectConfig(config: VariantConfig, project: WheelProject): VariantConfig {
  const own = project.spec.variant.values;
  if (Object.keys(own).length === 0) return config;
  const values = new Map(config.values);
  for (const [key, list] of Object.entries(own)) values.set(key, list);
  for (const group of config.zipKeys) {
    const used = group.filter((key) => project.spec.variant.keys.includes(key) && values.has(key));
    const lengths = new Set(used.map((key) => values.get(key)!.length));
    if (lengths.size > 1) {
      throw new ForgeError(`zip_keys [${group.join(', ')}] of ${config.file} vary together: variant.values must give ${used.join(' and ')} lists of one length`, { file: project.file, line: project.spec.yaml.lineOf(['variant', 'values']) });
    }
  }
  return { ...config, values };
}

/** The workspace's wheel projects as a graph, over the same variants.yaml as the recipes. */
export function loadWheelGraph(root: string, options: ForgeOptions, files: readonly string[] = discoverProjectFiles(root, options, WHEEL_FILE_SUFFIX)): WheelGraph {
  const { config } = readVariantConfig(root, options.variantConfig);
  return buildWheelGraph(loadWheelProjects(root, files), config, options.targetPlatform);
}
