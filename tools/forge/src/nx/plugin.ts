import type { CreateDependencies, DependencyType, CreateNodesResult, CreateNodesV2, ProjectConfiguration, RawProjectGraphDependency, TargetConfiguration } from '@nx/devkit';
import { normalizeOptions, SKIP_SOLVE_ENV, type ForgeOptions } from '../config/forge-config.js';
import { isForgeError } from '../errors.js';
import { buildGraph, type VariantTask } from '../graph/recipe-graph.js';
import type { WheelGraph, WheelProject } from '../graph/wheel-graph.js';
import { checkPatches, checkSources, loadProjects, projectOf, readRecipeSources, RECIPE_GLOB_SUFFIX, WHEEL_FILE_SUFFIX } from '../graph/workspace.js';
import { KEY_FILE } from '../store/outputs.js';
import { NodesCache } from './nodes-cache.js';
import type { VariantValue } from '../variants/keys.js';

/** What the plugin records on each project for createDependencies and for tools reading the graph. */
export interface ForgeProjectMetadata {
  readonly recipe: string;
  readonly dependencies: readonly string[];
  readonly variants: ReadonlyArray<{ id: string; values: Record<string, VariantValue>; files: string[] }>;
}

/** What the plugin records on a wheel project: its file, upstream wheel projects and variants. */
export interface ForgeWheelMetadata {
  readonly file: string;
  readonly dependencies: readonly string[];
  readonly variants: ReadonlyArray<{ id: string; values: Record<string, VariantValue> }>;
}

export const BUILD_TARGET = 'build';
export const UPLOAD_TARGET = 'upload';
export const UPLOAD_EXECUTOR = '@wv-forge/forge:upload';
export const UPLOAD_WHEELS_EXECUTOR = '@wv-forge/forge:upload-wheels';
export const variantTarget = (id: string): string => `${BUILD_TARGET}-${id}`;
export const solveTarget = (id: string): string => `solve-${id}`;
export const WHEEL_TARGET = 'wheel';
export const UPLOAD_WHEELS_TARGET = 'upload-wheels';
export const wheelTarget = (id: string): string => `${WHEEL_TARGET}-${id}`;
/** Environment variable that overrides every wheel project's `build.environment`. */
export const WHEEL_ENVIRONMENT_ENV = 'FORGE_WHEEL_ENVIRONMENT';

/**
 * One Nx project per recipe, one task per variant and an aggregate `build`.
 * All recipes are rendered in one batch (from the content-keyed render cache)
 * because a variant task names the exact variant tasks of its upstream
 * packages, which only the whole set of recipes can tell.
 */
export const createNodes: CreateNodesV2<Partial<ForgeOptions>> = [
  `**/{${RECIPE_GLOB_SUFFIX},${WHEEL_FILE_SUFFIX}}`,
  async (files, rawOptions, context) => {
    try {
      const options = normalizeOptions(rawOptions);
      const depth = options.recipesDir.split('/').length + 3;
      const inRecipesDir = (file: string, suffix: string) => file.startsWith(`${options.recipesDir}/`) && file.endsWith(`/${suffix}`) && file.split('/').length === depth;
      const recipeFiles = files.filter((file) => inRecipesDir(file, RECIPE_GLOB_SUFFIX));
      const wheelFiles = files.filter((file) => inRecipesDir(file, WHEEL_FILE_SUFFIX));
      const results: Array<readonly [string, CreateNodesResult]> = [];
      if (recipeFiles.length) results.push(...(await recipeNodes(context.workspaceRoot, options, recipeFiles)));
      if (wheelFiles.length) {
        // Loaded only where there are wheel projects: it brings the YAML parser.
        const { loadWheelGraph } = await import('../graph/wheel-graph.js');
        const wheels = loadWheelGraph(context.workspaceRoot, options, wheelFiles);
        results.push(...[...wheels.projects.values()].map((project) => [project.file, wheelProjectNode(project, wheels, options)] as const));
      }
      return results;
    } catch (error) {
      // Nx prints the message; a ForgeError already names the file and line.
      throw isForgeError(error) ? new Error(error.format()) : error;
    }
  },
];

/** The recipe projects: from the nodes cache when no recipe, option or plugin build changed. */
async function recipeNodes(root: string, options: ForgeOptions, recipeFiles: readonly string[]): Promise<Array<readonly [string, CreateNodesResult]>> {
  const sources = readRecipeSources(root, options, recipeFiles);
  const cache = new NodesCache(root);
  const key = NodesCache.key(options, sources);
  const cached = cache.read<Array<readonly [string, CreateNodesResult]>>(key);
  if (cached) {
    for (const { recipeFile, patches, sources } of cached.patches) {
      checkPatches(root, recipeFile, patches);
      checkSources(root, recipeFile, sources);
    }
    return cached.results;
  }
  const graph = buildGraph(await loadProjects(root, options, sources), root);
  const results = recipeFiles.map((file) => {
    const { name } = projectOf(file);
    return [file, projectNode(file, graph.tasks.get(name) ?? [], graph.dependencies.get(name) ?? new Set(), graph.projects.get(name)?.outsideInputs ?? [], options)] as const;
  });
  cache.write({ key, results, patches: [...graph.projects.values()].map((p) => ({ recipeFile: p.recipeFile, patches: p.patches, sources: p.sources })) });
  return results;
}

/**
 * The inputs of the targets over a project's variant tasks (`build`, `wheel`, the uploads):
 * Nx's default (the project's files and those of the projects it needs), and the content
 * keys of the variant tasks below them. Nx 24's `nx affected -t build` selects a task by
 * its own inputs and the outputs it reads, so with the default alone an edit of a local
 * source outside the project's folder (`path: ../../../shared/src`), an input of the
 * variant tasks only, selected nothing, and an upstream edit no dependent's aggregate.
 */
const AGGREGATE_INPUTS: TargetConfiguration['inputs'] = ['default', '^default', { dependentTasksOutputFiles: `**/${KEY_FILE}`, transitive: true }];

function projectNode(recipeFile: string, tasks: readonly VariantTask[], dependencies: ReadonlySet<string>, outsideInputs: readonly string[], options: ForgeOptions): CreateNodesResult {
  const { name, root } = projectOf(recipeFile);
  const targets: Record<string, TargetConfiguration> = {};
  for (const task of tasks) {
    targets[variantTarget(task.id)] = {
      executor: '@wv-forge/forge:build',
      options: { variant: task.id },
      cache: true,
      // Upstream content keys, not upstream sources: a downstream variant rebuilds
      // exactly when a package it builds against changed.
      inputs: [
        // Gitignored files too: the engine packages the whole recipe folder (info/recipe),
        // and the content key counts them, so Nx must not restore a build from before their edit.
        { fileset: `{projectRoot}/recipe/**/*`, includeIgnored: true },
        // A path or a folder (not known here); paths leaving the workspace are refused when recipes load.
        ...outsideInputs.flatMap((path) => [`{workspaceRoot}/${path}`, `{workspaceRoot}/${path}/**/*`].map((fileset) => ({ fileset, includeIgnored: true }))),
        `{workspaceRoot}/${options.variantConfig}`,
        { dependentTasksOutputFiles: `**/${KEY_FILE}`, transitive: true },
        { env: 'RATTLER_BUILD' },
      ],
      outputs: [`{workspaceRoot}/${options.outputDir}/{projectName}/${task.id}`],
      dependsOn: [
        ...(options.solveBeforeBuild ? [solveTarget(task.id)] : []),
        ...task.needs.map((need) => ({ projects: [need.project], target: variantTarget(need.id) })),
      ],
      metadata: {
        technologies: ['conda'],
        description: `${describe(task)}: ${task.outputs.map((o) => o.file).join(', ')}`,
      },
    };
  }
  for (const task of tasks) {
    targets[solveTarget(task.id)] = {
      executor: '@wv-forge/forge:solve',
      options: { variant: task.id },
      cache: true,
      // Its own recipe and those of the packages it needs (their predicted records), and the channels in nx.json.
      inputs: [
        { fileset: `{projectRoot}/recipe/**/*`, includeIgnored: true },
        '^default',
        `{workspaceRoot}/${options.variantConfig}`,
        '{workspaceRoot}/nx.json',
        ...[SKIP_SOLVE_ENV, 'CONDA_OVERRIDE_CUDA', 'CONDA_OVERRIDE_GLIBC', 'CONDA_OVERRIDE_ARCHSPEC'].map((env) => ({ env })),
      ],
      outputs: [`{workspaceRoot}/${options.outputDir}/.solve/{projectName}/${task.id}.json`],
      metadata: { technologies: ['conda'], description: `Check that the build, host and run requirements of ${task.id} resolve` },
    };
  }
  targets[UPLOAD_TARGET] = {
    executor: UPLOAD_EXECUTOR,
    // After this package's builds and after the packages it needs are published.
    dependsOn: [BUILD_TARGET, `^${UPLOAD_TARGET}`],
    inputs: AGGREGATE_INPUTS,
    cache: false,
    metadata: { technologies: ['conda'], description: `Upload ${name}'s variants to ${options.uploadChannel}` },
  };
  targets[BUILD_TARGET] = {
    executor: 'nx:noop',
    dependsOn: tasks.map((task) => variantTarget(task.id)),
    inputs: AGGREGATE_INPUTS,
    metadata: { technologies: ['conda'], description: `All ${tasks.length} variant build(s) of ${name}` },
  };
  const metadata: ForgeProjectMetadata = {
    recipe: recipeFile,
    dependencies: [...dependencies].sort(),
    variants: tasks.map((task) => ({ id: task.id, values: { ...task.values }, files: task.outputs.map((o) => o.file) })),
  };
  const project: Omit<ProjectConfiguration, 'root'> & { root: string } = {
    root,
    name,
    projectType: 'library',
    tags: ['recipe'],
    targets,
    metadata: { forge: metadata } as ProjectConfiguration['metadata'],
  };
  return { projects: { [root]: project } };
}

/**
 * A wheel project's targets: one `wheel-<id>` per variant, the aggregate
 * `wheel`, and `upload-wheels`. Nx merges them into the project of a recipe in
 * the same folder.
 */
function wheelProjectNode(project: WheelProject, graph: WheelGraph, options: ForgeOptions): CreateNodesResult {
  const tasks = graph.tasks.get(project.name) ?? [];
  const { spec } = project;
  // Gitignored files too, as the content key counts them (a local source's generated files among them).
  const sourceInputs = spec.source.kind === 'path' && !spec.source.path.startsWith(`${project.root}/wheel/`) ? [{ fileset: `{workspaceRoot}/${spec.source.path}/**/*`, includeIgnored: true }] : [];
  const targets: Record<string, TargetConfiguration> = {};
  for (const task of tasks) {
    targets[wheelTarget(task.id)] = {
      executor: '@wv-forge/forge:wheel',
      options: { variant: task.id },
      cache: true,
      inputs: [
        { fileset: `{projectRoot}/wheel/**/*`, includeIgnored: true },
        ...sourceInputs,
        `{workspaceRoot}/${options.variantConfig}`,
        { dependentTasksOutputFiles: `**/${KEY_FILE}`, transitive: true },
        { env: WHEEL_ENVIRONMENT_ENV },
        // The machine's toolchain (python, nvcc, compiler, torch; docker: its images) is
        // part of the content key; here it keeps Nx from restoring another machine's result.
        { runtime: `node node_modules/@wv-forge/forge/dist/cli/main.js toolchain --id --environment ${spec.build.environment}${spec.variant.keys.includes('torch') ? ' --torch' : ''}` },
      ],
      outputs: [`{workspaceRoot}/${options.wheelsDir}/{projectName}/${task.id}`],
      dependsOn: task.needs.map((need) => ({ projects: [need.project], target: wheelTarget(need.id) })),
      metadata: { technologies: ['python'], description: `Wheel of ${spec.name} ${spec.version}${describeValues(task.values)}` },
    };
  }
  targets[WHEEL_TARGET] = {
    executor: 'nx:noop',
    dependsOn: tasks.map((task) => wheelTarget(task.id)),
    inputs: AGGREGATE_INPUTS,
    metadata: { technologies: ['python'], description: `All ${tasks.length} wheel variant(s) of ${spec.name}` },
  };
  targets[UPLOAD_WHEELS_TARGET] = {
    executor: UPLOAD_WHEELS_EXECUTOR,
    dependsOn: [WHEEL_TARGET, `^${UPLOAD_WHEELS_TARGET}`],
    inputs: AGGREGATE_INPUTS,
    cache: false,
    metadata: { technologies: ['python'], description: `Publish ${spec.name}'s wheels to ${options.wheelIndex ?? '(wheelIndex is not set)'}` },
  };
  const metadata: ForgeWheelMetadata = {
    file: project.file,
    dependencies: [...(graph.dependencies.get(project.name) ?? [])].sort(),
    variants: tasks.map((task) => ({ id: task.id, values: { ...task.values } })),
  };
  return {
    projects: {
      [project.root]: { root: project.root, name: project.name, projectType: 'library', tags: ['wheel'], targets, metadata: { forgeWheel: metadata } as ProjectConfiguration['metadata'] },
    },
  };
}

function describeValues(values: Readonly<Record<string, VariantValue>>): string {
  const parts = Object.entries(values).map(([k, v]) => `${k} ${v}`);
  return parts.length ? ` for ${parts.join(', ')}` : '';
}

function describe(task: VariantTask): string {
  const values = Object.entries(task.values).map(([k, v]) => `${k} ${v}`);
  return values.length ? `Build for ${values.join(', ')}` : `Build (${task.id})`;
}

/** Project edges from the requirements each recipe names (build, host and run). */
export const createDependencies: CreateDependencies<Partial<ForgeOptions>> = (_options, context) => {
  const edges: RawProjectGraphDependency[] = [];
  for (const [source, project] of Object.entries(context.projects)) {
    const metadata = project.metadata as { forge?: ForgeProjectMetadata; forgeWheel?: ForgeWheelMetadata } | undefined;
    const declared = [
      ...(metadata?.forge ? metadata.forge.dependencies.map((target) => [target, metadata.forge!.recipe] as const) : []),
      ...(metadata?.forgeWheel ? metadata.forgeWheel.dependencies.map((target) => [target, metadata.forgeWheel!.file] as const) : []),
    ];
    for (const [target, sourceFile] of declared) {
      if (!context.projects[target]) continue;
      edges.push({ source, target, type: 'static' as DependencyType.static, sourceFile });
    }
  }
  return edges;
};

export const name = '@wv-forge/forge/plugin';
