import { join } from 'node:path';
import { readForgeOptions, type ForgeOptions } from '../config/forge-config.js';
import { engineVersion, locateEngine, type Engine } from '../engine/engine.js';
import { buildGraph, type RecipeGraph } from '../graph/recipe-graph.js';
import { loadWheelGraph, type WheelGraph } from '../graph/wheel-graph.js';
import { loadProjects } from '../graph/workspace.js';
import { ContentKeys } from '../store/content-key.js';
import { OutputStore } from '../store/outputs.js';
import { SharedStore } from '../store/shared-store.js';
import { SourceCache } from '../store/source-cache.js';

/** What every forge executor starts from: options, graph, engine, content keys and outputs. */
export interface ForgeRun {
  readonly root: string;
  readonly forge: ForgeOptions;
  readonly graph: RecipeGraph;
  readonly engine: Engine;
  readonly keys: ContentKeys;
  readonly store: OutputStore;
  /** The shared content-key store, when a remote cache is configured. */
  readonly shared: SharedStore | undefined;
}

export async function startRun(root: string): Promise<ForgeRun> {
  const forge = readForgeOptions(root);
  const graph = buildGraph(await loadProjects(root, forge), root);
  const engine = locateEngine(root, forge.engine);
  return { root, forge, graph, engine, keys: new ContentKeys(root, graph, engineVersion(engine)), store: new OutputStore(join(root, forge.outputDir)), shared: SharedStore.fromEnv() };
}

/** What the wheel executors start from: options, the wheel graph, the wheelhouse and the source cache. */
export interface WheelRun {
  readonly root: string;
  readonly forge: ForgeOptions;
  readonly graph: WheelGraph;
  readonly store: OutputStore;
  readonly sources: SourceCache;
  /** The shared content-key store, when a remote cache is configured. */
  readonly shared: SharedStore | undefined;
}

export function startWheelRun(root: string): WheelRun {
  const forge = readForgeOptions(root);
  return { root, forge, graph: loadWheelGraph(root, forge), store: new OutputStore(join(root, forge.wheelsDir)), sources: SourceCache.forWorkspace(root), shared: SharedStore.fromEnv() };
}
