import { join } from 'node:path';
import { readForgeOptions, type ForgeOptions } from '../config/forge-config.js';
import { engineVersion, locateEngine, type Engine } from '../engine/engine.js';
import { buildGraph, type RecipeGraph } from '../graph/recipe-graph.js';
import { loadProjects } from '../graph/workspace.js';
import { ContentKeys } from '../store/content-key.js';
import { OutputStore } from '../store/outputs.js';

/** What every forge executor starts from: options, graph, engine, content keys and outputs. */
export interface ForgeRun {
  readonly root: string;
  readonly forge: ForgeOptions;
  readonly graph: RecipeGraph;
  readonly engine: Engine;
  readonly keys: ContentKeys;
  readonly store: OutputStore;
}

export async function startRun(root: string): Promise<ForgeRun> {
  const forge = readForgeOptions(root);
  const graph = buildGraph(await loadProjects(root, forge));
  const engine = locateEngine(root, forge.engine);
  return { root, forge, graph, engine, keys: new ContentKeys(root, graph, engineVersion(engine)), store: new OutputStore(join(root, forge.outputDir)) };
}
