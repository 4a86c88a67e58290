import { readForgeOptions, type ForgeOptions } from '../config/forge-config.js';
import { ForgeError } from '../errors.js';
import { buildGraph, type RecipeGraph } from '../graph/recipe-graph.js';
import { loadProjects } from '../graph/workspace.js';
import { findWorkspaceRoot } from './workspace-root.js';

export interface Loaded {
  readonly root: string;
  readonly options: ForgeOptions;
  readonly graph: RecipeGraph;
}

export async function loadWorkspace(): Promise<Loaded> {
  const root = findWorkspaceRoot();
  const options = readForgeOptions(root);
  return { root, options, graph: buildGraph(await loadProjects(root, options)) };
}

/** Projects named on the command line (by project or package name), all when none. */
export function selectProjects(graph: RecipeGraph, names: readonly string[]): string[] {
  const all = [...graph.projects.keys()].sort();
  if (names.length === 0) return all;
  return names.map((name) => {
    if (graph.projects.has(name)) return name;
    const owner = all.find((project) => graph.projects.get(project)!.rendered.some((v) => v.name === name));
    if (!owner) throw new ForgeError(`unknown package \`${name}\` (known: ${all.join(', ')})`);
    return owner;
  });
}
