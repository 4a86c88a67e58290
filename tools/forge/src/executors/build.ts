import type { ExecutorContext } from '@nx/devkit';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileCacheForBuild } from '../engine/compile-cache.js';
import { withCompileProgress } from '../engine/compile-progress.js';
import { embeddedPython } from '../engine/engine.js';
import { describeError } from '../errors.js';
import type { RecipeGraph, VariantTask } from '../graph/recipe-graph.js';
import { closure } from '../graph/task-order.js';
import { readVariantConfig } from '../graph/variant-config-file.js';
import { buildChannels, findOnChannels } from '../store/channels.js';
import { changedFiles, recipeInputFiles } from '../store/content-key.js';
import { KEY_FILE, MANIFEST, sha256File, type Manifest } from '../store/outputs.js';
import { restoreShared, shareBuilt } from '../store/shared-store.js';
import { checkFreshness, frontPython, staleMessage } from '../store/stale-guard.js';
import { startRun, type ForgeRun } from './context.js';
import { collectChannel, evictFromPackageCache, runEngineBuild } from './engine-build.js';
import { checkRunPreflight } from './run-preflight.js';

export interface BuildExecutorOptions {
  /** The variant id, e.g. `py3.12-cuda12.6`. */
  readonly variant: string;
}

/**
 * Builds one variant of one recipe, unless an artifact with the same content
 * key is already in the local outputs or on a channel.
 */
export default async function buildExecutor(options: BuildExecutorOptions, context: ExecutorContext): Promise<{ success: boolean }> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const run = await startRun(context.root);
    checkRunPreflight(context, run.forge);
    return { success: await buildVariant(run, context.projectName!, options.variant, log) };
  } catch (error) {
    log(`${context.projectName}:${options.variant}: error: ${describeError(error)}`);
    return { success: false };
  }
}

/**
 * One variant task, for the executor and for the batch (which shares one
 * run, so one graph and one engine version, among all its tasks).
 */
/**
 * `progress` gets the compile's progress lines as they happen (default: the log):
 * a batch keeps each task's log until the task ends, so it writes them live.
 */
export async function buildVariant(run: ForgeRun, project: string, variant: string, log: (line: string) => void, progress: (line: string) => void = log): Promise<boolean> {
  const { root, forge, graph, engine, keys, store } = run;
  const task = findTask(graph, project, variant);
  const { key, inputs } = keys.of(task);
  const label = `${project}:${task.id}`;
  store.sweep();

  return await store.lock(project, task.id, async () => {
    const local = store.valid(project, task.id, key);
    if (local) {
      log(`${label}: cached in ${posix.join(forge.outputDir, project, task.id)} (key ${key.slice(0, 12)})`);
      return true;
    }
    if (await restoreShared(run.shared, 'conda', store, project, task.id, key, log)) return true;
    const { artifactChannels, channels: configured } = buildChannels(forge, root);
    const lookups = await Promise.all(task.outputs.map((o) => findOnChannels(o.file, artifactChannels)));
    if (lookups.length && lookups.every((l) => l.found)) {
      // Same file name is not same content: refuse one built from another recipe.
      for (const [i, lookup] of lookups.entries()) {
        const file = task.outputs[i]!.file;
        const freshness = await checkFreshness(frontPython(root), lookup.found ? lookup.channel : '', file, inputs.files);
        if (freshness.stale) {
          log(`error: ${staleMessage(project, task.id, file, lookup.found ? lookup.channel : '', freshness.changed)}`);
          return false;
        }
      }
      const where = [...new Set(lookups.map((l) => (l.found ? l.channel : '')))].join(', ');
      log(`${label}: already on ${where}, not building`);
      const staged = store.stagingDir(project, task.id);
      // An empty channel folder, so downstream builds can list it like any upstream output.
      collectChannel(join(staged, '.none'), staged, [forge.targetPlatform]);
      writeManifest(staged, { project, id: task.id, key, inputs, files: [], builtAt: new Date().toISOString(), seconds: 0, channel: where });
      store.publish(staged, project, task.id);
      return true;
    }
    for (const lookup of lookups) if (!lookup.found && lookup.problem) log(`${label}: could not check a channel (${lookup.problem})`);

    const upstreamTasks = closure(graph, task);
    // Its key names the upstream keys of today's recipes: an upstream folder from other inputs (its
    // rebuild failed, or Nx ran this task alone) would be built against, and recorded under this key.
    const outdated = upstreamTasks.filter((t) => store.readManifest(t.project, t.id)?.key !== keys.of(t).key);
    if (outdated.length) {
      const names = outdated.map((t) => `${t.project}:${t.id}`).join(', ');
      // Nx's hash leaves the engine version out: its cache may have restored a build of the previous engine.
      const otherEngine = outdated.some((t) => { const built = store.readManifest(t.project, t.id)?.inputs.engine; return built !== undefined && built !== inputs.engine; });
      const how = otherEngine ? `built by another engine than ${inputs.engine}: run with --skip-nx-cache once after an engine upgrade` : `build ${outdated.length === 1 ? 'it' : 'them'} first (run this task with its dependencies)`;
      log(`${label}: error: ${names} ${outdated.length === 1 ? 'is' : 'are'} not built from ${outdated.length === 1 ? 'its' : 'their'} current inputs in ${forge.outputDir}; ${how}`);
      return false;
    }
    const upstream = upstreamTasks.map((t) => pathToFileURL(store.taskDir(t.project, t.id)).href);
    // Artifact channels too: an upstream variant found there was not built here.
    const channels = [...new Set([...upstream, ...artifactChannels, ...configured])];
    const staged = store.stagingDir(project, task.id);
    // A path of the task's, not the attempt's: the engine builds in its bld/ folder, and the compile cache hits only where that stays put.
    const engineOutput = store.workDir(staged);
    const recipeDir = join(root, posix.dirname(graph.projects.get(project)!.recipeFile));
    const started = Date.now();
    log(`${label}: building ${task.outputs.map((o) => o.file).join(', ')} with ${engine.embedded ? 'the embedded py-rattler-build engine' : engine.command}`);
    // A rattler-build binary builds without the embedded front; the eviction needs it (rattler's cache lock).
    const front = embeddedPython(root);
    const evicted = front ? await evictFromPackageCache(front, task.outputs.map((o) => o.file)) : [];
    if (!front) log(`${label}: rattler's package cache not cleared of a previous build of these files (no embedded front: npm run setup:engine)`);
    if (evicted.length) log(`${label}: removed the previous ${evicted.join(', ')} from rattler's package cache`);
    const cache = await compileCacheForBuild(root, 'engine', (line) => log(`${label}: ${line}`));
    const result = await runEngineBuild(
      engine,
      {
        env: cache.env,
        recipeDir,
        variantConfig: join(root, forge.variantConfig),
        targetPlatform: forge.targetPlatform,
        overrides: overrides(root, forge.variantConfig, task),
        channels,
        outputDir: engineOutput,
        extraArgs: forge.engineArgs,
        label,
      },
      withCompileProgress(label, log, progress),
    );
    await cache.report();
    if (!result.ok) {
      store.discard(staged);
      if (result.signal && INTERRUPTS.has(result.signal)) {
        // Stopped, not broken: no failure record, so `forge plan` does not block its dependents.
        log(`${label}: interrupted (the engine got ${result.signal})`);
        return false;
      }
      store.recordFailure(project, task.id, key, result.tail);
      log(`${label}: FAILED (${result.signal ? `engine killed by ${result.signal}` : `engine exit ${result.exitCode}`}). Last lines of its log:`);
      for (const line of result.tail.slice(-25)) log(`  | ${line}`);
      return false;
    }
    // The engine read the recipe folder at some point of the build, the key before it:
    // an edit in between would publish (and Nx would cache) a package under a key it does not match.
    const edited = changedFiles(inputs.files, recipeInputFiles(root, graph.projects.get(project)!));
    if (edited.length) {
      store.discard(staged);
      log(`${label}: FAILED: ${edited.join(', ')} changed in ${posix.dirname(graph.projects.get(project)!.recipeFile)} during the build; nothing was kept, run it again`);
      return false;
    }
    const files = collectChannel(engineOutput, staged, [forge.targetPlatform]);
    rmSync(engineOutput, { recursive: true, force: true });
    const expected = task.outputs.map((o) => o.file).sort();
    const missing = expected.filter((file) => !files.includes(file));
    if (missing.length) {
      store.discard(staged);
      log(`${label}: FAILED: the engine did not produce ${missing.join(', ')} (it produced ${files.join(', ') || 'nothing'}); the variant engine and rattler-build disagree, please report it`);
      return false;
    }
    const manifest: Manifest = {
      project,
      id: task.id,
      key,
      inputs,
      files: expected.map((file) => ({ file, sha256: sha256File(join(staged, file)), size: statSync(join(staged, file)).size })),
      builtAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    writeManifest(staged, manifest);
    store.publish(staged, project, task.id);
    store.clearFailure(project, task.id);
    log(`${label}: built ${expected.join(', ')} in ${manifest.seconds}s`);
    await shareBuilt(run.shared, 'conda', store, project, task.id, key, log);
    return true;
  }, () => log(`${label}: waiting for another build of the same variant to finish`));
}

/** How Ctrl-C, Nx stopping a run, or a CI cancel end the engine. */
const INTERRUPTS = new Set(['SIGINT', 'SIGTERM', 'SIGHUP']);

function findTask(graph: RecipeGraph, project: string, id: string): VariantTask {
  const task = graph.tasks.get(project)?.find((t) => t.id === id);
  if (!task) throw new Error(`project ${project} has no variant \`${id}\` (known: ${(graph.tasks.get(project) ?? []).map((t) => t.id).join(', ')})`);
  return task;
}

/**
 * `--variant key=value` for every key the combination fixed, so the engine
 * renders exactly this variant; zipped partners get the value at the same
 * position, or the engine would see zip_keys of different lengths.
 */
function overrides(root: string, variantConfig: string, task: VariantTask): Record<string, string> {
  const { config } = readVariantConfig(root, variantConfig);
  const combination = task.outputs[0]!.combination;
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(combination)) {
    if (key === 'target_platform' || key === 'build_platform' || !config.values.has(key)) continue;
    result[key] = String(value);
    for (const group of config.zipKeys.filter((g) => g.includes(key))) {
      const index = config.values.get(key)!.indexOf(value);
      for (const partner of group) {
        const values = config.values.get(partner);
        if (values && result[partner] === undefined) result[partner] = String(values[index]!);
      }
    }
  }
  return result;
}

function writeManifest(dir: string, manifest: Manifest): void {
  writeFileSync(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(join(dir, KEY_FILE), `${manifest.key}\n`);
}
