import { posix } from 'node:path';
import { readForgeOptions, type ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';
import { buildGraph, type RecipeGraph } from '../graph/recipe-graph.js';
import { discoverProjectFiles, loadProjects, WHEEL_FILE_SUFFIX } from '../graph/workspace.js';
import { findWorkspaceRoot } from './workspace-root.js';

export interface Loaded {
  readonly root: string;
  readonly options: ForgeOptions;
  readonly graph: RecipeGraph;
}

export async function loadWorkspace(): Promise<Loaded> {
  const root = findWorkspaceRoot();
  const options = readForgeOptions(root);
  return { root, options, graph: buildGraph(await loadProjects(root, options), root) };
}

/** The workspace's wheel projects (folder names), for messages about names that are not recipes. */
export function wheelProjectNames(root: string, options: ForgeOptions): string[] {
  return discoverProjectFiles(root, options, WHEEL_FILE_SUFFIX).map((file) => posix.basename(posix.dirname(posix.dirname(file))));
}

/**
 * Recipe projects named on the command line (by project or package name), all
 * when none. A name that is only a wheel project is refused as such: the
 * command covers recipes.
 */
export function selectProjects(graph: RecipeGraph, names: readonly string[], wheelProjects: readonly string[] = []): string[] {
  const all = [...graph.projects.keys()].sort();
  if (names.length === 0) return all;
  return names.map((name) => {
    if (graph.projects.has(name)) return name;
    const owner = all.find((project) => graph.projects.get(project)!.rendered.some((v) => v.name === name));
    if (owner) return owner;
    if (wheelProjects.includes(name)) throw new ForgeError(`\`${name}\` is a wheel project: this command covers recipes (wheels: \`nx run ${name}:wheel\`, \`nx run ${name}:upload-wheels\`)`);
    throw new ForgeError(`unknown package \`${name}\` (recipes: ${all.join(', ') || 'none'}${wheelProjects.length ? `; wheel projects: ${[...wheelProjects].sort().join(', ')}` : ''})`);
  });
}
